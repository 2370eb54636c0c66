"""One process per run directory (ecosim.store.lock): a second run or resume fails in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ecosim.errors import CheckpointError
from ecosim.store.lock import run_lock


def test_a_held_lock_refuses_a_second_holder_and_is_released_after(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(CheckpointError, match=r"in use by ecosim pid \d+ on"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):  # released
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    code = f"from ecosim.store.lock import run_lock\nwith run_lock({str(tmp_path)!r}):\n    import os; os._exit(9)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    with run_lock(tmp_path):
        pass


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecosim.cli", *args], capture_output=True, text=True, timeout=120)


def test_run_or_resume_of_a_directory_in_use_touches_nothing_and_names_no_folder(tmp_path, data_root):
    # a run in its first generation: logs being written, no complete generation (no checkpoint) yet
    out = tmp_path / "busy"
    (out / "generations").mkdir(parents=True)
    started = out / "generations" / "gen-000000.parquet"
    started.write_bytes(b"being written")
    (out / "config.toml").write_text("", encoding="utf-8")
    with run_lock(out):
        again = _cli(
            "run", "--dataset", "mnist", "--data-root", str(data_root), "--generations", "2", "--out", str(out)
        )
        resumed = _cli("resume", str(out))
    for proc in (again, resumed):
        assert proc.returncode != 0 and "in use by ecosim pid" in proc.stderr, proc.stderr
        assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1, proc.stderr
        assert "run directory" not in proc.stdout
    assert started.read_bytes() == b"being written"  # the running run's files are untouched
