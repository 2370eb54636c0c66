"""What a run records about the code and machine that computed it (ecosim.machine; the sessions log)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def fact(package_root: Path, name: str, **env: str) -> str:
    """``ecosim.machine.<name>()`` in a new process importing ecosim from ``package_root``."""
    done = subprocess.run(
        [sys.executable, "-c", f"from ecosim.machine import {name}; print({name}())"],
        env={**os.environ, "PYTHONPATH": str(package_root), **env},
        cwd=package_root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_commit_names_a_checkout_and_its_changes_and_is_empty_for_an_installed_package(tmp_path):
    checkout = tmp_path / "checkout"  # this package's code, committed in a repository of its own
    shutil.copytree(ROOT / "ecosim", checkout / "ecosim", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "docs").mkdir()
    (checkout / ".gitignore").write_text("__pycache__/\n")
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "code"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True)
    head_hash = head.stdout.strip()
    assert fact(checkout, "source_commit") == head_hash
    (checkout / "ecosim" / "added_module.py").write_text("X = 1\n")  # untracked, yet it can change what runs
    assert fact(checkout, "source_commit") == f"{head_hash}-dirty"
    (checkout / "ecosim" / "added_module.py").unlink()
    (checkout / "docs" / "extra.md").write_text("notes\n")  # outside the package: not a change of the code
    assert fact(checkout, "source_commit") == head_hash
    installed = tmp_path / "site"
    shutil.copytree(checkout / "ecosim", installed / "ecosim")  # no .git beside it: an installed package
    assert fact(installed, "source_commit") == ""
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # a checkout of another user: git refuses, and says so
        subprocess.run(["chown", "-R", "nobody", str(checkout)], check=True)
        found = fact(checkout, "source_commit")
        assert found.startswith("unknown (") and "ownership" in found, found


def test_the_cpu_kernel_level_names_a_onednn_cap_set_in_the_environment():
    plain = fact(ROOT, "cpu_capability")
    assert plain and "oneDNN" not in plain
    assert fact(ROOT, "cpu_capability", ONEDNN_MAX_CPU_ISA="SSE41") == f"{plain}, oneDNN max SSE41"


LEVEL = """
import sys
from pathlib import Path
from ecosim.machine import host_facts
facts = host_facts(Path(sys.argv[1]))
print(facts["cpu_capability"]); print("torch" in sys.modules)
"""


def level_here(cache: Path, **env: str) -> tuple[str, bool]:
    """``host_facts(cache)["cpu_capability"]`` in a new process, and whether that process imported torch."""
    done = subprocess.run(
        [sys.executable, "-c", LEVEL, str(cache)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    level, imported = done.stdout.splitlines()[-2:]
    return level, imported == "True"


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="the level is kept by /proc/cpuinfo's flags")
def test_the_kernel_level_is_kept_per_machine_so_a_runs_driver_imports_no_torch(tmp_path):
    """A run's driver records torch's kernel level in the sessions log; importing torch for it cost
    2–5 s before the first generation (issue 18's start-up target), so it is kept in the cache."""
    import torch

    here = str(torch.backends.cpu.get_cpu_capability())
    assert level_here(tmp_path) == (here, True)  # first on this machine: torch asked, answer kept
    assert level_here(tmp_path) == (here, False)  # then read back: no torch in the driver
    assert level_here(tmp_path, ONEDNN_MAX_CPU_ISA="SSE41") == (f"{here}, oneDNN max SSE41", False)
    assert level_here(tmp_path, ATEN_CPU_CAPABILITY="default") == ("DEFAULT", True)  # another key
    for kept in (tmp_path / "machine").iterdir():
        kept.write_text("")  # a damaged entry: asked again
    assert level_here(tmp_path) == (here, True)
    unwritable = tmp_path / "file"
    unwritable.write_text("not a folder")
    assert level_here(unwritable) == (here, True)  # a cache that cannot be written: torch each time
