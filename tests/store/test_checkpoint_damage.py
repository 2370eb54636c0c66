"""A damaged checkpoint never costs the run: fall back to the previous intact one, else one clear line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecosim.errors import CheckpointError
from ecosim.evolution.records import NetworkRecord
from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
from ecosim.store.checkpoint import (
    CheckpointWarning,
    intact_checkpoint_generation,
    load_checkpoint,
    save_checkpoint,
)


def _species(seed: int) -> list[dict]:
    g = Genome((1, 8, 8), (ConvLayer(((1, 1), (3, 3))), DenseLayer(3)))
    recs = {
        i: NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(seed + i)), fitness=0.1 * i, age=2)
        for i in range(3)
    }
    return [{"species_id": 0, "key": g.species_key, "generation": seed, "networks": recs}]


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """Checkpoints after generations 2 and 3 (``keep=2``), LATEST naming generation 3."""
    for gen in range(4):
        save_checkpoint(tmp_path, gen, {"next_network_id": 3 + gen}, _species(gen), keep=2)
    return tmp_path


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_latest_overwritten_with_binary_bytes_falls_back_to_the_newest_folder(run_dir):
    (run_dir / "checkpoints" / "LATEST").write_bytes(bytes(range(256)))
    with pytest.warns(CheckpointWarning, match=r"LATEST is unreadable .*gen-000003.*generation 3"):
        assert load_checkpoint(run_dir)["generation"] == 3


def test_latest_naming_a_missing_folder_falls_back(run_dir):
    (run_dir / "checkpoints" / "LATEST").write_text("gen-000009")
    with pytest.warns(CheckpointWarning, match=r"names 'gen-000009'"):
        assert load_checkpoint(run_dir)["generation"] == 3


@pytest.mark.parametrize("damage", ["truncated state", "truncated weights", "binary state", "missing weights"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(run_dir, damage):
    newest = run_dir / "checkpoints" / "gen-000003"
    if damage == "truncated state":
        _truncate(newest / "state.json")
    elif damage == "truncated weights":
        _truncate(newest / "weights.safetensors")
    elif damage == "binary state":
        (newest / "state.json").write_bytes(b"\x89\xff\x00" * 100)
    else:
        (newest / "weights.safetensors").unlink()
    name = "weights.safetensors" if "weights" in damage else "state.json"
    with pytest.warns(CheckpointWarning, match=rf"gen-000003/{name} is damaged .*generation 2\) instead"):
        ck = load_checkpoint(run_dir)
    assert ck["generation"] == 2 and ck["coordinator"]["next_network_id"] == 5
    want = _species(2)[0]["networks"]
    got = ck["species"][0]["networks"]
    assert all(np.array_equal(a, b) for i in want for a, b in zip(got[i].weights.arrays(), want[i].weights.arrays()))
    assert intact_checkpoint_generation(run_dir) == 2


def test_weights_that_do_not_fit_the_state_count_as_damage(run_dir):
    state = run_dir / "checkpoints" / "gen-000003" / "state.json"
    doc = json.loads(state.read_text())
    doc["species"][0]["networks"][0]["id"] = 99  # no weights stored for network 99
    state.write_text(json.dumps(doc))
    with pytest.warns(CheckpointWarning, match="does not fit its weights"):
        assert load_checkpoint(run_dir)["generation"] == 2


def test_no_intact_checkpoint_is_one_line_naming_every_damaged_file(run_dir):
    (run_dir / "checkpoints" / "LATEST").write_bytes(b"\xff\xfe\x00")
    _truncate(run_dir / "checkpoints" / "gen-000003" / "weights.safetensors")
    (run_dir / "checkpoints" / "gen-000002" / "state.json").write_text("{")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(run_dir)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"run directory {str(run_dir)!r} has no intact checkpoint")
    assert "gen-000003/weights.safetensors is damaged" in message
    assert "gen-000002/state.json is damaged" in message
    assert intact_checkpoint_generation(run_dir) is None


def test_an_intact_run_loads_without_warnings(run_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_checkpoint(run_dir)["generation"] == 3


def test_another_checkpoint_version_is_an_error_not_a_fallback(run_dir):
    state = run_dir / "checkpoints" / "gen-000003" / "state.json"
    doc = json.loads(state.read_text())
    doc["version"] = 99
    state.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="has version 99, expected 1"):
        load_checkpoint(run_dir)


def test_no_checkpoint_at_all_says_so(tmp_path):
    with pytest.raises(CheckpointError, match=r"no complete checkpoint .*LATEST is missing"):
        load_checkpoint(tmp_path)


def test_damaged_log_files_are_set_aside_and_the_rest_of_the_log_reads(tmp_path):
    from ecosim.store.logs import LogWarning, LogWriter, read_networks, set_aside_damaged_logs

    logs = LogWriter(tmp_path)
    for gen in range(3):
        for sid in (0, 1):
            logs.write_networks(gen, sid, [{"generation": gen, "network_id": 10 * gen + sid, "species_id": sid}])
    bad = logs.layout.networks_file(1, 1)
    bad.write_bytes(b"PAR1" + bytes(range(200)))  # overwritten with other bytes
    with pytest.raises((OSError, ValueError)):  # pyarrow's ArrowInvalid is a ValueError
        read_networks(tmp_path)
    with pytest.warns(
        LogWarning, match=r"gen-000001-s0001\.parquet' is damaged .*generation 1 lacks the network rows of species 1"
    ):
        moved = set_aside_damaged_logs(tmp_path)
    assert moved == [tmp_path / "damaged" / "networks" / bad.name]
    assert sorted(read_networks(tmp_path)["network_id"]) == [0, 1, 10, 20, 21]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set_aside_damaged_logs(tmp_path) == []


def test_a_damaged_generation_file_after_the_checkpoint_is_said_to_be_written_again(tmp_path):
    from ecosim.store.logs import LogWarning, LogWriter, read_generations, set_aside_damaged_logs

    logs = LogWriter(tmp_path)
    for gen in range(3):
        logs.write_generation({"generation": gen})
    logs.layout.generation_file(2).write_bytes(b"")  # empty: a file cut at 0 bytes
    with pytest.warns(LogWarning, match=r"generation 2 comes after the checkpoint and is written again"):
        set_aside_damaged_logs(tmp_path, checkpoint=1)
    assert list(read_generations(tmp_path)["generation"]) == [0, 1]


def test_a_damaged_session_file_is_set_aside_and_the_report_says_so_rather_than_blaming_old_logs(tmp_path):
    from ecosim.config import Config
    from ecosim.report import RunSkippedWarning, load_runs
    from ecosim.report.machines import machines_text
    from ecosim.store.logs import LogWarning, LogWriter, read_sessions, set_aside_damaged_logs

    (tmp_path / "config.toml").write_text(Config().with_overrides({"run.out": str(tmp_path)}).to_toml())
    logs = LogWriter(tmp_path)
    logs.write_generation({"generation": 0})
    one = {"time": 1.0, "command": "run", "generation": 0, "nodes": 1, "cluster_cpus": 1.0, "cluster_gpus": 0.0}
    first = logs.write_session(one)
    logs.write_session({**one, "time": 2.0, "command": "resume", "generation": 1})
    (run,) = load_runs([tmp_path])
    assert machines_text([run]) == "1 node, 1 CPU, no GPU (1 run)"  # text columns left null: no "(nan)"
    first.write_bytes(b"PAR1" + bytes(range(100)))
    (run,) = load_runs([tmp_path])
    with pytest.warns(RunSkippedWarning, match=r"session-000000\.parquet' is damaged.*counted as not readable"):
        assert machines_text([run], "a laptop") == (  # not the older runs' `--machine` text: this one recorded
            "not readable for 1 run (a damaged sessions file; `ecosim resume` sets it aside)"
        )
    with pytest.warns(LogWarning, match=r"session-000000\.parquet' is damaged .*the sessions log lacks that row"):
        moved = set_aside_damaged_logs(tmp_path)
    assert moved == [tmp_path / "damaged" / "sessions" / first.name]
    assert list(read_sessions(tmp_path)["command"]) == ["resume"]
    (run,) = load_runs([tmp_path])  # its start is gone: counted apart as well as on its machine
    assert machines_text([run]) == (
        "1 node, 1 CPU, no GPU (1 run); start not recorded for 1 run (a damaged sessions file, set aside)"
    )
