"""The dataset cache: decoded arrays kept as one ``.npz`` file, so a slow decode happens once.

Used for the CIFAR-10 JPEG tarball (:mod:`ecosim.data.cifar`). A file is written atomically
(:func:`~ecosim.atomic.atomic_write`: a temporary file, then a rename), so concurrent
writers each leave a complete file. An unreadable, inconsistent or older-version file is
ignored with a warning (and decoded afresh by the caller); an unwritable cache warns and the
arrays stay in memory. Touches only the file it is given.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["NPZ_VERSION", "read_npz", "write_npz"]

NPZ_VERSION = 1
"""Format version stored in every cache file as ``version``; another version is not read."""


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(train_images, train_labels, test_images, test_labels)`` cached in ``path``, or ``None``.

    ``None`` when the file is absent, of another :data:`NPZ_VERSION`, unreadable or inconsistent
    (the last two warn). Images are uint8 ``(N, C, H, W)``, labels int64 ``(N,)``, C-contiguous.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["version"]) != NPZ_VERSION:
                return None
            arrays = tuple(
                np.ascontiguousarray(npz[key]) for key in ("train_images", "train_labels", "test_images", "test_labels")
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(f"ignoring unreadable dataset cache {path}: {exc}", stacklevel=3)
        return None
    train_x, train_y, test_x, test_y = arrays
    if (
        train_x.dtype != np.uint8
        or test_x.dtype != np.uint8
        or train_x.ndim != 4
        or train_y.dtype != np.int64
        or test_y.dtype != np.int64
        or len(train_x) != len(train_y)
        or len(test_x) != len(test_y)
    ):
        warnings.warn(f"ignoring inconsistent dataset cache {path}", stacklevel=3)
        return None
    return train_x, train_y, test_x, test_y


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` atomically (:func:`~ecosim.atomic.atomic_write`); on failure warn."""
    from ecosim.atomic import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    try:
        atomic_write(path, write)
    except OSError as exc:
        warnings.warn(f"could not write the dataset cache {path}: {exc}", stacklevel=3)
