"""SVHN from its official ``.mat`` files, read with torchvision.

Files: ``DIR/SVHN/{train,test}_32x32.mat`` or ``DIR/{train,test}_32x32.mat``. Images are
``(N, 3, 32, 32)`` uint8; label 10 becomes digit 0 (torchvision does this). The files are read
without checking their MD5 (torchvision checks it; hashing 180 MB on every load is slow and
rejects re-packed copies); a download still verifies it.

torchvision is imported when a dataset is read. Writes only what a download writes
(:func:`ecosim.data.download.read_or_download`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ecosim.data.download import read_or_download
from ecosim.data.record import NORMALISATION, ImageDataset, build_dataset

__all__ = ["load_svhn"]


def _svhn_class() -> type:
    from torchvision import datasets

    class _LocalSVHN(datasets.SVHN):
        """torchvision's SVHN that accepts any present file (no MD5 check) when reading."""

        def _check_integrity(self) -> bool:
            return os.path.isfile(os.path.join(self.root, self.filename))

    return _LocalSVHN


def load_svhn(root: Path, download: bool) -> ImageDataset:
    """Load SVHN from the data root ``root``; ``download``: whether torchvision may download it.

    Returns:
        An :class:`~ecosim.data.record.ImageDataset` of ``(N, 3, 32, 32)`` uint8 images, 10 classes.

    Raises:
        DataNotFoundError: the files are missing or unreadable and could not be downloaded.
        DatasetError: the arrays are inconsistent.
    """
    from torchvision import datasets

    local = _svhn_class()

    def read(folder: Path, dl: bool) -> tuple[Any, Any]:
        cls = datasets.SVHN if dl else local  # a download verifies the MD5
        return cls(str(folder), split="train", download=dl), cls(str(folder), split="test", download=dl)

    subdir = "SVHN"
    if (root / "train_32x32.mat").is_file() and not (root / "SVHN" / "train_32x32.mat").is_file():
        subdir = ""  # files straight in the root, as torchvision itself lays them out
    train, test = read_or_download("svhn", root, download, subdir, read)

    def images(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(ds.data, dtype=np.uint8)  # (N, 3, 32, 32)

    def labels(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(ds.labels, dtype=np.int64).reshape(-1)

    mean, std = NORMALISATION["svhn"]
    return build_dataset(
        "svhn",
        images(train),
        labels(train),
        images(test),
        labels(test),
        10,
        mean,
        std,
        root / subdir if subdir else root,
    )
