"""End-to-end runs on real MNIST with real Ray and torch (paper §III, §IV; issue: engine)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

import ecosim
from ecosim.api import resume, run
from ecosim.config import Config
from ecosim.errors import CheckpointError, ConfigError, DatasetError
from ecosim.machine import source_commit
from ecosim.store.logs import GENERATION_SCHEMA, NETWORK_SCHEMA, read_generations, read_networks, read_sessions

pytestmark = pytest.mark.ray

TIMING = ["wall_time_s", "task_time_s", "train_phase_s", "evolve_phase_s", "train_time_s", "eval_time_s"]


def small_settings(out: Path, data_root: Path, **kw) -> dict:
    """A small run's settings: 6 → 8 networks, 3 → 4 species, 1,000 test images, 5% of the training set."""
    base = {
        "run.out": str(out),
        "run.seed": 3,
        "run.generations": 3,
        "data.dataset": "mnist",
        "data.data_root": str(data_root),
        "data.test_subset": 1000,
        "ecosystem.population": 6,
        "ecosystem.species": 3,
        "ecosystem.max_species": 4,
        "ecosystem.max_population": 8,
        "ecosystem.offspring": 4,
        "training.train_fraction": 0.05,
        "resources.num_cpus": 2,
    }
    base.update(kw)
    return base


def small(out: Path, data_root: Path, **kw) -> Config:
    return Config().with_overrides(small_settings(out, data_root, **kw))


def small_command(out: Path, data_root: Path, **kw) -> list[str]:
    """``ecosim run`` with :func:`small`'s settings (``--set``), for the tests that kill the process."""
    sets = [f"{k}={json.dumps(v)}" for k, v in small_settings(out, data_root, **kw).items()]
    return [sys.executable, "-m", "ecosim.cli", "run", *(a for kv in sets for a in ("--set", kv))]


def _strip(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in TIMING if c in df.columns])


@pytest.fixture(scope="module")
def sync_run(tmp_path_factory, data_root, ray_local):
    out = tmp_path_factory.mktemp("runs") / "sync"
    result = run(small(out, data_root))
    return result


def test_sync_run_logs_schema_limits_and_beats_chance(sync_run):
    gens, nets = read_generations(sync_run.run_dir), read_networks(sync_run.run_dir)
    assert list(gens["generation"]) == [0, 1, 2]
    assert pq.read_schema(next((sync_run.run_dir / "generations").glob("*.parquet"))).equals(
        GENERATION_SCHEMA, check_metadata=False
    )
    assert pq.read_schema(next((sync_run.run_dir / "networks").glob("*.parquet"))).equals(
        NETWORK_SCHEMA, check_metadata=False
    )
    assert (gens["species_count"] <= 4).all() and (gens["network_count"] <= 8).all()
    assert gens["highest_fitness"].between(0, 1).all()
    assert sync_run.best_fitness > 0.5  # 10 classes: chance is 0.1
    assert sync_run.champion_path.is_file()
    assert gens["best_fitness_so_far"].is_monotonic_increasing
    assert set(nets["status"]) <= {"ok", "diverged", "error"}
    assert nets.groupby("generation")["network_id"].apply(lambda s: s.is_unique).all()
    later = nets[nets["generation"] > 0]
    assert later["fitness_before_bp"].notna().any()  # offspring scored before BP
    assert set(later["origin"]) <= {"initial", "mutation", "crossover", "clone"}
    assert (sync_run.run_dir / "config.toml").is_file()


def test_a_compute_budget_stops_at_the_generation_that_reaches_it_and_resume_spends_more(sync_run, tmp_path, data_root):
    full = read_generations(sync_run.run_dir)
    spent = full["train_macs"].cumsum()
    budget = float(spent.iloc[0] + 1)  # above generation 0's compute: generation 1 reaches it
    lines: list[str] = []
    short = run(small(tmp_path / "budget", data_root, **{"run.train_macs": budget}), progress=lines.append)
    gens = read_generations(short.run_dir)
    assert list(gens["generation"]) == [0, 1]  # stopped at the first generation that reached it
    assert any(line.startswith("compute budget reached: ") and "after generation 1" in line for line in lines)
    pd.testing.assert_frame_equal(_strip(gens), _strip(full.iloc[:2]))
    resume(short.run_dir, {"run.train_macs": 1.0})  # a budget already spent: nothing to do, nothing stored
    assert list(read_generations(short.run_dir)["generation"]) == [0, 1]
    assert f"train_macs = {budget}" in (short.run_dir / "config.toml").read_text()
    # a budget run.generations ends first: on to run.generations, as if never stopped, and the
    # last line says the budget was not spent
    lines.clear()
    resume(short.run_dir, {"run.train_macs": 1e18}, progress=lines.append)
    pd.testing.assert_frame_equal(_strip(read_generations(short.run_dir)), _strip(full))
    assert not any(line.startswith("compute budget reached: ") for line in lines)
    assert any(
        line.startswith("run.generations ended the run after generation 2, before its compute budget: ")
        and "of run.train_macs = 1e+18" in line
        and "ecosim resume" in line
        for line in lines
    ), lines
    pd.testing.assert_frame_equal(_strip(read_networks(short.run_dir)), _strip(read_networks(sync_run.run_dir)))
    # the sessions log: the start and the resume that computed (not the one with nothing to do)
    sessions = read_sessions(short.run_dir)
    assert list(sessions["command"]) == ["run", "resume"] and list(sessions["generation"]) == [0, 2]
    assert (sessions["nodes"] == 1).all() and (sessions["cluster_cpus"] == 2).all()
    assert (sessions["cluster_gpus"] == 0).all() and (sessions["gpu_types"] == "").all()
    assert (sessions["ecosim"] == ecosim.__version__).all() and sessions["torch"].str.len().gt(0).all()
    assert sessions["cpu"].str.len().gt(0).all() and (sessions["host_cpus"] == os.cpu_count()).all()
    assert (sessions["cpu_capability"] == torch.backends.cpu.get_cpu_capability()).all()
    assert (sessions["ecosim_commit"] == source_commit()).all()  # a checkout's state ("" when installed)


def test_same_seed_gives_identical_sync_logs_whichever_layout_computes(sync_run, tmp_path, data_root):
    # sync_run measures its layouts (conv mode, memory format; issue 18): pinned to the reference
    # layout, the run computes the same bits
    again = run(
        small(
            tmp_path / "again", data_root, **{"training.conv_mode": "dense", "training.memory_format": "channels_first"}
        )
    )
    pd.testing.assert_frame_equal(_strip(read_generations(sync_run.run_dir)), _strip(read_generations(again.run_dir)))
    pd.testing.assert_frame_equal(_strip(read_networks(sync_run.run_dir)), _strip(read_networks(again.run_dir)))


def test_resume_after_sigkill_equals_uninterrupted(sync_run, tmp_path, data_root):
    out = tmp_path / "killed"
    env = dict(os.environ, ECOSIM_DATA=str(data_root))
    cmd = small_command(out, data_root)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    # LATEST is written after the checkpoint folder (its fsync can take a while on a busy disk)
    while time.time() < deadline and not (out / "checkpoints" / "LATEST").exists():
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoints" / "LATEST").exists(), "the run never checkpointed"
    resume(out)
    pd.testing.assert_frame_equal(_strip(read_generations(sync_run.run_dir)), _strip(read_generations(out)))
    pd.testing.assert_frame_equal(_strip(read_networks(sync_run.run_dir)), _strip(read_networks(out)))


def test_async_run_completes_within_limits_and_a_resume_leaves_the_pause_out_of_wall_time(
    tmp_path, data_root, ray_local
):
    import shutil

    from ecosim.evolution.state import GenerationTally

    result = run(small(tmp_path / "async", data_root, **{"run.mode": "async", "run.checkpoint_keep": 5}))
    gens = read_generations(result.run_dir)
    assert list(gens["generation"]) == [0, 1, 2]
    assert (gens["species_count"] <= 4).all() and (gens["network_count"] <= 8).all()
    assert result.best_fitness > 0.5
    nets = read_networks(result.run_dir)  # the best up to each generation, whichever species ran ahead
    best = nets[nets["status"] == "ok"].groupby("generation")["fitness"].max().cummax()
    assert list(gens["best_fitness_so_far"]) == pytest.approx(list(best))
    # as if it had stopped 1,000 s ago just after generation 0's checkpoint, a generation open
    # (asynchronous mode keeps the next one open across a checkpoint when a species is ahead)
    ckpts = sorted((result.run_dir / "checkpoints").glob("gen-*"))
    for later in ckpts[1:]:
        shutil.rmtree(later)
    (result.run_dir / "checkpoints" / "LATEST").write_text(ckpts[0].name)
    state = json.loads((ckpts[0] / "state.json").read_text())
    coord = state["coordinator"]
    coord["tallies"].setdefault("1", GenerationTally(started=coord["saved_at"]).to_json())
    for tally in coord["tallies"].values():
        tally["started"] -= 1000.0
    coord["saved_at"] -= 1000.0
    (ckpts[0] / "state.json").write_text(json.dumps(state))
    resume(result.run_dir)
    gens = read_generations(result.run_dir)
    assert list(gens["generation"]) == [0, 1, 2]
    assert (gens["wall_time_s"] < 500).all(), list(gens["wall_time_s"])  # before 0.9.1: >= 1000 s


def test_an_async_run_stops_at_its_budget_on_complete_generations(tmp_path, data_root, ray_local):
    lines: list[str] = []
    cfg = small(
        tmp_path / "async-budget", data_root, **{"run.mode": "async", "run.generations": 8, "run.train_macs": 1.0}
    )
    result = run(cfg, progress=lines.append)
    gens, nets = read_generations(result.run_dir), read_networks(result.run_dir)
    last = int(gens["generation"].max())
    assert last < 7 and list(gens["generation"]) == list(range(last + 1))  # stopped early, every row written
    assert int(nets["generation"].max()) == last  # no species trained a generation past the last row
    assert result.best_network_id in set(nets["network_id"])  # the champion is a logged network
    assert gens["train_macs"].sum() >= 1.0
    assert any(line.startswith("compute budget reached: ") and f"after generation {last}" in line for line in lines)


def test_async_settling_trains_on_the_fittest_of_the_whole_generation(tmp_path, data_root, ray_local):
    """Asynchronous mode past the settle point: the networks that train in generation g + 1 are the
    ``settle_keep`` fittest of the whole generation g, however the species interleave (the helper's
    find, session 34: species that ran ahead trained 9 networks after a settle point that kept 2,
    judged on their own fitness before the slowest species had trained). A species waits for the
    generation before to complete (``EcosystemPolicy.waits_for``)."""
    cfg = small(
        tmp_path / "async-settle",
        data_root,
        **{"run.mode": "async", "run.generations": 5, "ecosystem.settle": 0.5, "ecosystem.settle_keep": 2},
    )
    run(cfg)
    nets = read_networks(cfg.run.out)
    settle = 3  # ceil(0.5 x 5)
    for g in range(settle, 4):
        before = nets[(nets["generation"] == g) & (nets["status"] == "ok")]
        fittest = set(before.sort_values(["fitness", "network_id"], ascending=[False, True])["network_id"][:2])
        after = set(nets[nets["generation"] == g + 1]["network_id"])
        assert after & set(before["network_id"]) <= fittest, (g, sorted(after), sorted(fittest))
        assert len(after & set(before["network_id"])) <= 2


def test_no_speciation_population_of_two(tmp_path, data_root, ray_local):
    cfg = small(
        tmp_path / "nospec",
        data_root,
        **{
            "ecosystem.speciation": False,
            "ecosystem.population": 2,
            "ecosystem.max_population": 3,
            "ecosystem.offspring": 2,
            "run.generations": 2,
        },
    )
    result = run(cfg)
    gens = read_generations(result.run_dir)
    assert (gens["species_count"] == 1).all() and (gens["network_count"] <= 3).all()


def test_population_of_one(tmp_path, data_root, ray_local):
    cfg = small(
        tmp_path / "one",
        data_root,
        **{
            "ecosystem.population": 1,
            "ecosystem.species": 1,
            "ecosystem.max_species": 1,
            "ecosystem.max_population": 2,
            "ecosystem.offspring": 1,
            "run.generations": 2,
        },
    )
    result = run(cfg)
    gens = read_generations(result.run_dir)
    assert (gens["network_count"] <= 2).all() and (gens["species_count"] == 1).all()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_settled_runs_make_no_offspring_and_keep_the_fittest(tmp_path, data_root, ray_local, mode, caplog):
    """``ecosystem.settle`` (issue 17): from generation ⌈0.5 × 4⌉ = 2 on no offspring, and the 3
    fittest networks of generation 2 are the ones that train on (sync). In asynchronous mode a
    species that steps generation 2 before generation 1 is written still reproduces; the last
    generation makes none."""
    cfg = small(
        tmp_path / mode,
        data_root,
        **{"run.mode": mode, "run.generations": 4, "ecosystem.settle": 0.5, "ecosystem.settle_keep": 3},
    )
    with caplog.at_level(logging.INFO, logger="ecosim.evolution.settling"):
        result = run(cfg)
    gens, nets = read_generations(result.run_dir), read_networks(result.run_dir)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "ecosim.evolution.settling"]
    assert "settled (ecosystem.settle): no more offspring, the 3 fittest networks train on" in line
    assert gens["offspring"].iloc[0] > 0 and gens["offspring"].iloc[-1] == 0
    if mode == "async":
        return
    assert line.startswith("generation 2: ") and list(gens["offspring"])[2:] == [0, 0]
    third = nets[nets["generation"] == 2]
    kept = third[~third["culled"]]
    assert len(kept) == 3 and sorted(kept["fitness"]) == sorted(third["fitness"].nlargest(3))  # ties: either
    assert set(nets[nets["generation"] == 3]["network_id"]) == set(kept["network_id"])
    # extended to 10 generations (the point moves to 5): it trains on, it does not search again
    with caplog.at_level(logging.INFO, logger="ecosim.engine.coordinator"):
        more = resume(result.run_dir, {"run.generations": 10})
    assert any(
        "resumed from the checkpoint of generation 3: nothing after it was lost; the run goes on from generation 4"
        in r.getMessage()
        for r in caplog.records
    )
    gens = read_generations(more.run_dir)
    assert list(gens["offspring"])[2:] == [0] * 8 and (gens["network_count"].iloc[3:] == 3).all()


def test_halving_after_the_settle_point_trains_half_as_many_in_each_part(tmp_path, data_root, ray_local):
    """``ecosystem.settle_rungs`` (successive halving): settled at generation 3 of 7 with 4 kept,
    the 4 generations left split into 2 parts: generation 3 trains every network and generation 4
    the 4 fittest of them, generations 5–6 the 2 fittest of those. With ``settle_lr_decay`` = 0.5
    generation 4 trains at half the learning rate and generations 5–6 at a quarter."""
    cfg = small(
        tmp_path,
        data_root,
        **{
            "run.generations": 7,
            "ecosystem.settle": 0.4,
            "ecosystem.settle_keep": 4,
            "ecosystem.settle_rungs": 2,
            "ecosystem.settle_lr_decay": 0.5,
        },
    )
    result = run(cfg)
    nets, gens = read_networks(result.run_dir), read_generations(result.run_dir)
    assert list(gens["lr_scale"]) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.25]
    assert [sorted(set(nets[nets["generation"] == g]["lr_scale"])) for g in (3, 4, 5)] == [[1.0], [0.5], [0.25]]
    kept = [len(nets[(nets["generation"] == g) & ~nets["culled"]]) for g in range(3, 7)]
    assert kept == [4, 2, 2, 2]
    fourth, fifth = nets[nets["generation"] == 4], nets[nets["generation"] == 5]
    assert len(fourth) == 4 and len(fifth) == 2  # generation 4 trains 4, then keeps the 2 fittest
    assert set(fifth["network_id"]) == set(fourth.loc[fourth["fitness"].nlargest(2).index, "network_id"])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stagnant_species_go_extinct_and_never_train_again(tmp_path, data_root, ray_local, mode):
    cfg = small(
        tmp_path / mode, data_root, **{"run.mode": mode, "run.generations": 8, "ecosystem.species_stagnation": 1}
    )
    result = run(cfg)
    gens, nets = read_generations(result.run_dir), read_networks(result.run_dir)
    assert gens["species_extinct"].sum() > 0
    assert (gens["species_count"] <= 4).all() and (gens["network_count"] <= 8).all()
    ends = nets.groupby("species_id")["generation"].max()
    dead = ends[ends < 7].index
    assert len(dead) > 0  # an extinct species never trains again
    if mode == "sync":  # every network of it is culled in the generation it dies (async marks only its own step's)
        for sid in dead:
            assert nets[(nets["species_id"] == sid) & (nets["generation"] == ends[sid])]["culled"].all()


def test_bad_input_is_rejected_before_any_work(tmp_path, data_root):
    with pytest.raises(DatasetError, match="mnist"):
        run(small(tmp_path / "x", tmp_path / "empty", **{"data.dataset": "mnist"}))
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError, match="data.dataset|dataset"):
        run(small(tmp_path / "y", data_root, **{"data.dataset": "imagenet-42"}))
    with pytest.raises(CheckpointError):
        resume(tmp_path / "nothing")


def test_existing_run_directory_is_not_overwritten(sync_run, data_root):
    with pytest.raises(ConfigError, match="run.out"):
        run(small(sync_run.run_dir, data_root))


@pytest.mark.slow
def test_async_run_resumes_after_sigkill_without_duplicate_or_missing_rows(tmp_path, data_root, ray_local):
    out = tmp_path / "akilled"
    env = dict(os.environ, ECOSIM_DATA=str(data_root))
    cmd = small_command(out, data_root, **{"run.seed": 5, "run.generations": 4, "run.mode": "async"})
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (out / "checkpoints" / "gen-000001").exists():
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_networks(out)["network_id"].max()
    resume(out)
    gens, nets = read_generations(out), read_networks(out)
    assert list(gens["generation"]) == [0, 1, 2, 3]
    assert not nets.duplicated(["generation", "network_id"]).any()
    assert nets["network_id"].max() > before
    assert (gens["network_count"] <= 8).all() and (gens["species_count"] <= 4).all()


def test_resume_refuses_changes_to_what_the_run_computes(sync_run):
    with pytest.raises(ConfigError, match="data.dataset"):
        resume(sync_run.run_dir, {"data.dataset": "fashion-mnist"})
    for total in (1, 0):  # 0 is named against the 3 generations done, not config validation's "≥ 1"
        with pytest.raises(ConfigError, match=f"'run.generations' = {total} .* ≥ the 3 generations already complete"):
            resume(sync_run.run_dir, {"run.generations": total})
    done = resume(sync_run.run_dir)  # already complete: nothing to do, same best
    assert done.best_fitness == sync_run.best_fitness
    assert list(read_generations(sync_run.run_dir)["generation"]) == [0, 1, 2]


def test_unschedulable_task_resources_are_rejected_before_work(tmp_path, data_root, ray_local):
    with pytest.raises(ConfigError, match="resources.cpus_per_task"):
        run(small(tmp_path / "cpu", data_root, **{"resources.cpus_per_task": 64.0}))
    with pytest.raises(ConfigError, match="resources.gpus_per_task"):
        run(small(tmp_path / "gpu", data_root, **{"resources.gpus_per_task": 0.5}))
    assert not (tmp_path / "cpu").exists() and not (tmp_path / "gpu").exists()


def test_a_run_without_any_complete_generation_starts_afresh(tmp_path, data_root, ray_local):
    out = tmp_path / "stale"
    (out / "generations").mkdir(parents=True)
    (out / "config.toml").write_text("[run]\nseed = 99\n")
    with pytest.raises(CheckpointError, match="ecosim run --out"):
        resume(out)
    result = run(small(out, data_root, **{"run.generations": 1}))
    assert list(read_generations(result.run_dir)["generation"]) == [0]


def test_a_failed_networks_traceback_reaches_the_networks_log_message():
    import numpy as np

    from ecosim.engine.species import _message
    from ecosim.genome import DenseLayer, Genome, init_weights
    from ecosim.phenotype.records import TrainResult

    g = Genome((1, 4, 4), (DenseLayer(3),))
    res = TrainResult(
        weights=init_weights(g, np.random.default_rng(0)),
        status="error",
        message="RuntimeError: boom",
        extra={"traceback": "Traceback (most recent call last):\n  ..."},
    )
    assert _message(res).startswith("RuntimeError: boom\nTraceback (most recent call last)")
    assert _message(TrainResult(weights=res.weights, message="")) == ""
