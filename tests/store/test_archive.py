"""Packed logs (ecosim.store.archive): every reader reads a pack as it reads its run; a pack is no run."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from ecosim.cli import main
from ecosim.config import Config
from ecosim.errors import CheckpointError
from ecosim.report import load_run
from ecosim.store.archive import PACKED_LOG, pack_logs
from ecosim.store.lock import run_lock
from ecosim.store.logs import LogWriter, empty_counts, read_events, read_sessions


def write_run(run_dir: Path, generations: int = 6, species: int = 3) -> Path:
    """A run's logs as the engine writes them: one file per generation and per species, one event."""
    cfg = Config().with_overrides({"run.seed": 1, "run.out": str(run_dir), "data.dataset": "mnist"})
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    logs = LogWriter(run_dir)
    for g in range(generations):
        for s in range(species):
            rows = [
                {
                    "generation": g,
                    "network_id": 1000 * s + 10 * g + i,
                    "species_id": s,
                    "parent_ids": [i] if g else [],
                    "origin": "mutation" if g else "initial",
                    "parameters": 7850 + i,
                    "fitness": 0.5 + 0.01 * (g + i + s),
                    "fitness_before_bp": 0.4 if g else None,
                    "layers": f"C{s + 1}s1x1[{'3x3,' * s}3x3]-F10",
                    "status": "ok",
                    "culled": i == 0,
                }
                for i in range(4)
            ]
            logs.write_networks(g, s, rows)
        logs.write_generation(
            {
                "generation": g,
                "highest_fitness": 0.6 + 0.01 * g,
                "mean_fitness": 0.55,
                "best_fitness_so_far": 0.6 + 0.01 * g,
                "species_count": species,
                "network_count": 4 * species,
                "networks_evaluated": 4 * species,
                "champion_id": 10 * g,
                "train_macs": 1e9 * (g + 1),
                **empty_counts(),
            }
        )
    logs.write_event({"time": 5.0, "generation": 2, "event": "resumed", "lost": "nothing"})
    logs.write_session({"time": 1.0, "command": "run", "generation": 0, "nodes": 1, "cluster_cpus": 2.0})
    logs.write_session({"time": 4.0, "command": "resume", "generation": 2, "nodes": 2, "gpu_types": "H100"})
    return run_dir


def test_a_pack_reads_exactly_as_its_run_in_one_file_per_log(tmp_path):
    run = write_run(tmp_path / "runs" / "mnist" / "seed1")
    pack = pack_logs(run, tmp_path / "archive" / "mnist" / "seed1")
    assert sorted(p.name for p in (pack / "generations").iterdir()) == [PACKED_LOG]
    assert sorted(p.name for p in (pack / "networks").iterdir()) == [PACKED_LOG]
    assert not (pack / "checkpoints").exists()
    a, b = load_run(run), load_run(pack)
    pd.testing.assert_frame_equal(a.generations, b.generations)
    pd.testing.assert_frame_equal(a.networks, b.networks)
    pd.testing.assert_frame_equal(read_events(run), read_events(pack))
    pd.testing.assert_frame_equal(read_sessions(run), read_sessions(pack))
    assert list(read_sessions(pack)["command"]) == ["run", "resume"]
    assert a.config == b.config
    assert len(b.networks) == 6 * 3 * 4


def test_packing_again_replaces_the_earlier_pack(tmp_path):
    run = write_run(tmp_path / "run", generations=3)
    pack = pack_logs(run, tmp_path / "pack")
    (pack / "networks" / "gen-000099-s0000.parquet").write_bytes(b"stale")  # a file of an earlier layout
    LogWriter(run).write_generation({"generation": 3, "highest_fitness": 0.9, **empty_counts()})
    pack_logs(run, pack)
    assert load_run(pack).last_generation == 3
    assert sorted(p.name for p in (pack / "networks").iterdir()) == [PACKED_LOG]


def test_a_run_in_progress_a_run_as_dest_or_no_logs_are_one_line_errors_and_write_nothing(tmp_path):
    run = write_run(tmp_path / "run")
    with run_lock(run), pytest.raises(CheckpointError, match="in use by ecosim pid .*: pack it when it has finished"):
        pack_logs(run, tmp_path / "pack")  # flock: a second open of the lock file conflicts, as another process's
    assert not (tmp_path / "pack").exists()
    other = write_run(tmp_path / "other")
    (other / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="holds checkpoints"):
        pack_logs(run, other)
    with pytest.raises(CheckpointError, match="run directory itself"):
        pack_logs(run, run)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        pack_logs(run, tmp_path / "file")
    with pytest.raises(CheckpointError, match="lies below the file"):
        pack_logs(run, tmp_path / "file" / "pack")
    (run / "checkpoints").mkdir()  # now a run directory as the engine leaves it
    with pytest.raises(CheckpointError, match="lies in the run directory"):
        pack_logs(run, run / "sub")  # the helper's find (session 32): a pack inside its own run
    (run / "checkpoints").rmdir()
    archive = tmp_path / "archive"
    pack_logs(write_run(tmp_path / "mnist-b" / "seed0"), archive / "mnist-b" / "seed0")
    with pytest.raises(CheckpointError, match="not empty and holds no pack"):
        pack_logs(run, archive)  # the archive folder itself: the run's subfolder forgotten
    with pytest.raises(CheckpointError, match="holds the pack of another run"):
        pack_logs(run, archive / "mnist-b" / "seed0")
    stopped = write_run(tmp_path / "stopped")  # a run directory whose checkpoints were deleted
    with pytest.raises(CheckpointError, match="not empty and holds no pack"):
        pack_logs(run, stopped)
    assert load_run(stopped).last_generation == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.toml").write_text(Config().to_toml(), encoding="utf-8")
    with pytest.raises(CheckpointError, match="no generation logs"):
        pack_logs(empty, tmp_path / "pack2")
    assert not (tmp_path / "pack2").exists()


def test_report_reads_a_pack_and_run_or_resume_refuse_it_in_one_line_touching_nothing(tmp_path, capsys):
    pack = pack_logs(write_run(tmp_path / "run"), tmp_path / "pack")

    def state() -> list:  # the pack's own folder too: a probe folder made and removed there changes its mtime
        return sorted((p.relative_to(pack), p.stat().st_mtime_ns) for p in [pack, *pack.rglob("*")])

    before = state()
    assert main(["report", str(pack), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "table1.md").is_file()
    capsys.readouterr()
    for argv, named in (
        (["resume", str(pack)], "is a pack of a run's logs"),
        (["run", "--dataset", "mnist", "--generations", "1", "--out", str(pack)], "holds a pack of a run's logs"),
        (["show", str(pack)], "it holds no weights; give --from-log and --out DIR"),
        (["show", str(pack), "--generation", "3", "--from-log"], "give --out DIR"),  # its default folder is in the pack
        (["export", str(pack)], "it holds no weights to export"),
        (["report", str(pack)], "the report of a pack needs --out"),  # its default folder is in the pack
    ):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and len(err) == 1 and named in err[0], err
    for out in (pack, pack / "sub", pack / "generations" / "x"):  # a report into the pack: refused (session 32)
        assert main(["report", str(pack), "--out", str(out)]) != 0
        (err,) = capsys.readouterr().err.strip().splitlines()
        assert "lies in the pack" in err and "--out" in err
        # and pictures (the helper's find, session 39: `show --from-log --out PACK/pics` wrote there)
        assert main(["show", str(pack), "--generation", "3", "--from-log", "--out", str(out / "pics")]) == 2
        (err,) = capsys.readouterr().err.strip().splitlines()
        assert "lies in the pack" in err and "--out" in err
        assert main(["export", str(tmp_path / "run"), "--out", str(out / "export")]) == 2  # nor an export
        (err,) = capsys.readouterr().err.strip().splitlines()
        assert "lies in the pack" in err and "--out" in err
    with pytest.raises(CheckpointError, match="lies in the pack"):
        pack_logs(write_run(tmp_path / "run2"), pack / "inner")
    assert state() == before
    with pytest.raises(CheckpointError, match="is a pack already"):
        pack_logs(pack, tmp_path / "pack3")


def test_the_archive_script_packs_a_folder_of_runs_and_names_one_in_progress(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "experiments" / "archive_runs.py"
    runs = tmp_path / "runs"
    write_run(runs / "mnist-a" / "seed0", generations=2)
    busy = write_run(runs / "mnist-a" / "seed1", generations=2)
    with run_lock(busy):
        proc = subprocess.run(
            [sys.executable, str(script), str(runs), str(tmp_path / "archive")], capture_output=True, text=True
        )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith(
        f"packed {runs / 'mnist-a' / 'seed0'} -> {tmp_path / 'archive' / 'mnist-a' / 'seed0'}"
    )
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"skipped {busy}: ") and f"in use by ecosim pid {os.getpid()} on " in line
    assert load_run(tmp_path / "archive" / "mnist-a" / "seed0").last_generation == 1
    assert not (tmp_path / "archive" / "mnist-a" / "seed1").exists()
    # an experiment folder as SRC keeps its name below DEST; a DEST inside SRC is not packed again
    write_run(tmp_path / "other" / "mnist-b" / "seed0", generations=2)
    for src, dest in (
        (tmp_path / "other" / "mnist-b", tmp_path / "archive"),
        (tmp_path / "other", tmp_path / "other" / "kept"),
        (tmp_path / "other", tmp_path / "other" / "kept"),  # again: the packs below SRC are left alone
    ):
        proc = subprocess.run([sys.executable, str(script), str(src), str(dest)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert load_run(tmp_path / "archive" / "mnist-b" / "seed0").last_generation == 1
    assert load_run(tmp_path / "archive" / "mnist-a" / "seed0").last_generation == 1
    # "." for SRC keeps the folder names it stands for (the helper's find, session 35: "." inside a
    # run made DEST itself the pack, "." inside an experiment folder dropped the experiment's name)
    for cwd in (tmp_path / "other" / "mnist-b", tmp_path / "other" / "mnist-b" / "seed0"):
        dot = tmp_path / f"dot-{cwd.name}"
        proc = subprocess.run([sys.executable, str(script), ".", str(dot)], capture_output=True, text=True, cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        assert [p.relative_to(dot).as_posix() for p in dot.rglob("config.toml")] == ["mnist-b/seed0/config.toml"]
    assert sorted(p.parent.name for p in (tmp_path / "other").rglob("gen-packed.parquet")) == [
        "generations",
        "networks",
    ]
    # usage errors, before anything is written: SRC a pack, DEST a file, DEST in a run or a pack
    (tmp_path / "afile").write_text("x")
    seed0 = runs / "mnist-a" / "seed0"
    (seed0 / "checkpoints").mkdir()
    for src, dest, named in (
        (tmp_path / "archive" / "mnist-a" / "seed0", tmp_path / "again", "is a pack already"),
        (tmp_path / "archive" / "mnist-a", tmp_path / "again", "holds only packs"),
        (runs, tmp_path / "afile", "lies below the file"),
        (runs, tmp_path / "afile" / "sub", "lies below the file"),
        (runs, seed0 / "kept", "lies in the run directory"),
        (runs, tmp_path / "archive" / "mnist-a" / "seed0" / "kept", "lies in the pack"),
    ):
        proc = subprocess.run([sys.executable, str(script), str(src), str(dest)], capture_output=True, text=True)
        assert proc.returncode == 2 and named in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "again").exists() and not (seed0 / "kept").exists()


def test_the_packs_kept_in_the_repository_hold_their_logs():
    """Every pack under ``experiments/archive/`` holds its packed logs, so a clone regenerates the
    results page from them. Session 31's packs held only config.toml: ``*.parquet`` was ignored."""
    archive = Path(__file__).resolve().parents[2] / "experiments" / "archive"
    packs = sorted(c.parent for c in archive.rglob("config.toml"))
    assert packs, "no pack under experiments/archive"
    for pack in packs:
        assert (pack / "generations" / PACKED_LOG).is_file() and (pack / "networks" / PACKED_LOG).is_file(), pack
    assert load_run(packs[0]).last_generation >= 0


def test_a_pack_read_beside_its_run_counts_once(tmp_path):
    """DEST inside SRC (allowed by archive_runs.py): reading SRC finds the run and its pack; they
    are one run, not two replicates (the helper's find, session 32)."""
    from ecosim.report import load_runs
    from ecosim.report.runs import RunSkippedWarning

    run = write_run(tmp_path / "src" / "mnist-a" / "seed0", generations=2)
    pack = pack_logs(run, tmp_path / "src" / "packs" / "mnist-a" / "seed0")
    other = pack_logs(write_run(tmp_path / "gone" / "seed1", generations=2), tmp_path / "src" / "packs" / "b" / "s1")
    with pytest.warns(RunSkippedWarning, match="counted once, as the run"):
        runs = load_runs([tmp_path / "src"])
    assert sorted(r.run_dir for r in runs) == sorted([run, other])  # the pack of a run not read stays
    assert [r.run_dir for r in load_runs([pack])] == [pack]
    moved = tmp_path / "src" / "mnist-a" / "seed0-moved"  # a run moved (or copied back) after it ran
    run.rename(moved)
    with pytest.warns(RunSkippedWarning, match="counted once, as the run"):
        assert sorted(r.run_dir for r in load_runs([tmp_path / "src"])) == sorted([moved, other])
    # several packs, or a folder of them, need --out too; a report never goes into a run's logs
    assert main(["report", str(pack), str(other)]) != 0
    (checkpoints := moved / "checkpoints").mkdir()
    assert main(["report", str(moved), "--out", str(moved / "generations")]) != 0
    assert not (moved / "report").exists() and not any((moved / "generations").glob("*.csv"))
    assert checkpoints.is_dir()


def test_a_damaged_log_file_is_named_and_an_extinct_run_stays_extinct(tmp_path):
    run = write_run(tmp_path / "run")
    (run / "extinct.txt").write_text("no network left\n", encoding="utf-8")
    pack = pack_logs(run, tmp_path / "pack")
    assert (pack / "extinct.txt").read_text(encoding="utf-8") == "no network left\n"
    bad = run / "networks" / "gen-000003-s0001.parquet"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=f"log file {str(bad)!r} is damaged"):
        pack_logs(run, tmp_path / "pack")
    assert load_run(pack).last_generation == 5  # the earlier pack is untouched
