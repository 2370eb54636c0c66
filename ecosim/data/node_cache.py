"""A machine-local, memory-mapped copy of a run's dataset arrays, written once per machine (issue 19).

Training tasks do not receive the dataset as a Ray task argument: the raylet pins a task's
arguments in its object store for the task's lease, and Ray 2.60 leaks that pin when the
task's owner dies (Ray issue 64627), after which a node may never start a task with a large
argument again. Instead each array is written once per machine as ``<digest>.npy`` in a folder
of the local disk (:func:`default_root`), named by the digest of its content, and every task
on that machine maps it read-only (``numpy.load(mmap_mode="r")``: the pages are shared by
every worker process, as the object store's were). The arrays reach a machine once, through
:mod:`ecosim.engine.tasks`; this module is the Ray-free part: digests, files, the lock.

Files are never changed once written (a new content has a new name), so a copy is either
complete or absent (:func:`ecosim.atomic_write`). Nothing removes them: a dataset takes
its own size once per machine (MNIST 55 MB, CIFAR-10 185 MB) and is reused by every later run
of that dataset; delete the folder whenever no run is going.

>>> import tempfile
>>> cache = NodeCache(tempfile.mkdtemp())
>>> a = np.arange(6, dtype=np.uint8).reshape(2, 3)
>>> d = array_digest(a)
>>> cache.load([d]) is None
True
>>> _ = cache.store({d: a})
>>> cache.load([d])[d].tolist()
[[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ecosim.atomic import TMP_PREFIX, atomic_write

#: environment variable naming the folder of the machine-local copies (read on each machine)
ENV_VAR = "ECOSIM_NODE_CACHE"


def default_root() -> Path:
    """The folder of this machine's copies: ``$ECOSIM_NODE_CACHE``, else ``<tmp>/ecosim-node-cache-<uid>``.

    A local disk, not a shared one: each machine keeps its own copy.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return Path(value).expanduser()
    return Path(tempfile.gettempdir()) / f"ecosim-node-cache-{os.getuid()}"


def array_digest(array: np.ndarray) -> str:
    """Name of an array's copy: BLAKE2b (128 bits, hex) of its dtype, shape and bytes.

    About 0.1 s for MNIST's training images (47 MB).

    >>> array_digest(np.zeros(3, np.uint8)) == array_digest(np.zeros(3, np.uint8))
    True
    >>> array_digest(np.zeros(3, np.uint8)) == array_digest(np.zeros((1, 3), np.uint8))
    False
    """
    a = np.ascontiguousarray(array)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.reshape(-1).view(np.uint8).data if a.size else b"")
    return h.hexdigest()


class NodeCache:
    """The copies of one machine, in ``root`` (default :func:`default_root`).

    Args:
        root: the folder; created when the first copy is stored.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def path(self, digest: str) -> Path:
        """The file of the array named ``digest``."""
        return self.root / f"{digest}.npy"

    def load(self, digests: Sequence[str]) -> dict[str, np.ndarray] | None:
        """Map every array of ``digests`` read-only; ``None`` when one has no readable copy here (yet)."""
        out = {}
        for d in digests:
            a = _map(self.path(d))
            if a is None:
                return None
            out[d] = a
        return out

    def store(self, arrays: Mapping[str, np.ndarray]) -> list[Path]:
        """Write the arrays that have no copy yet, each atomically; returns the files written.

        Call it holding :meth:`lock`, so that one process per machine writes.

        Raises:
            OSError: the folder cannot be written (full disk, read-only); no partial file is left.
        """
        written = []
        for d, a in arrays.items():
            p = self.path(d)
            if _map(p) is not None:
                continue  # an unreadable copy (not written by ecosim) is replaced
            for stale in self.root.glob(f"{TMP_PREFIX}{p.name}.*"):  # a writer killed earlier
                stale.unlink(missing_ok=True)
            atomic_write(p, functools.partial(_save, array=a))
            written.append(p)
        return written

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the machine-wide lock ``name`` (``fcntl.flock`` on ``root/<name>.lock``) while writing.

        The lock goes with its process: a writer killed while holding it frees it.

        Raises:
            OSError: the folder cannot be created.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{name}.lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _map(path: Path) -> np.ndarray | None:
    """The array of ``path`` mapped read-only; ``None`` when absent or unreadable."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None


def _save(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


__all__ = ["ENV_VAR", "NodeCache", "array_digest", "default_root"]
