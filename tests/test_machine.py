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
