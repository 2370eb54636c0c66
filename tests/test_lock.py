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
