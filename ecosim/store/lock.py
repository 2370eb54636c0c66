"""One process at a time per run directory: an advisory ``flock`` on ``RUN_DIR/.lock``.

Two ``ecosim run`` / ``ecosim resume`` processes on one run directory would both write its logs
and checkpoints and corrupt them. The lock is taken for the whole run and released by the
operating system when the process ends, however it ends (a killed run leaves no stale lock).
POSIX only (``fcntl``); the lock file holds the owner's pid and host for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ecosim.errors import CheckpointError, StorageError

LOCK_NAME = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the run directory's lock while the block runs.

    Args:
        run_dir: an existing run directory.

    Yields:
        the lock file's path.

    Raises:
        CheckpointError: another process holds the lock (the message names its pid and host).
        StorageError: the lock file cannot be created (one line: path and reason).
    """
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError.from_os(exc, "create the run lock", path) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise CheckpointError(
                f"run directory {str(run_dir)!r} is in use by {owner}: wait for it to finish or stop it "
                "(Ctrl-C or kill), then resume"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"ecosim pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


__all__ = ["LOCK_NAME", "run_lock"]
