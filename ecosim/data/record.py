"""The dataset record and the table of known datasets: names, normalisation, files.

:class:`ImageDataset` is what every reader returns: four uint8/int64 NumPy arrays (C-contiguous,
so Ray shares them zero-copy between workers), the number of classes and the per-channel
normalisation constants. The tables below say, per known name, what the readers
(:mod:`ecosim.data.mnist`, :mod:`ecosim.data.svhn`, :mod:`ecosim.data.cifar`) need and what
:class:`~ecosim.data.download.DataNotFoundError` tells a user.

Imports NumPy and :mod:`ecosim.errors` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecosim.errors import DatasetError

__all__ = [
    "CIFAR10_TARBALL",
    "DATASETS",
    "INPUT_SHAPES",
    "LAYOUTS",
    "NORMALISATION",
    "ImageDataset",
    "build_dataset",
]

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "svhn", "cifar10", "emnist")
"""Names :func:`~ecosim.data.load.load_dataset` knows; any other name must be a path to an ImageFolder folder."""

NORMALISATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "emnist": ((0.1751,), (0.3332,)),
}
"""``{name: (mean, std)}`` per channel in [0, 1] pixel units, for each of :data:`DATASETS`."""

INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "svhn": (3, 32, 32),
    "emnist": (1, 28, 28),
}
"""``{name: (C, H, W)}``, the image shape of each of :data:`DATASETS` (what a genome's input is)."""

CIFAR10_TARBALL = "cifar10-jpeg-q75.tar.gz"
"""File name of the offline CIFAR-10 JPEG tarball looked for in the data root."""

LAYOUTS: dict[str, str] = {
    "mnist": "DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (uncompressed IDX)",
    "fashion-mnist": "DIR/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (uncompressed IDX)",
    "svhn": "DIR/SVHN/{train,test}_32x32.mat or DIR/{train,test}_32x32.mat (official .mat files)",
    "cifar10": f"DIR/cifar-10-batches-py/ (the official python version) or DIR/{CIFAR10_TARBALL} "
    "(train/<class>/*.jpg, test/<class>/*.jpg)",
    "emnist": "DIR/EMNIST/raw/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte (uncompressed IDX)",
}
"""``{name: the files expected under a data root DIR}``, for each of :data:`DATASETS`."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled image dataset held as uint8 NumPy arrays.

    Instances are immutable records (the arrays themselves are not copied or locked) and pickle
    cheaply: put one into a Ray object store and every worker maps the same arrays. Equality is
    identity (``eq=False``), since element-wise comparison of the arrays has no truth value.

    Attributes:
        name: ``"mnist"``, ``"fashion-mnist"``, ``"svhn"``, ``"cifar10"``, ``"emnist"``, or the
            absolute path of an ImageFolder folder.
        train_images: uint8 array of shape ``(N_train, C, H, W)``.
        train_labels: int64 array of shape ``(N_train,)``, values in ``[0, classes)``.
        test_images: uint8 array of shape ``(N_test, C, H, W)``.
        test_labels: int64 array of shape ``(N_test,)``, values in ``[0, classes)``.
        classes: number of classes.
        mean: per-channel mean in ``[0, 1]`` pixel units, ``len(mean) == C``.
        std: per-channel standard deviation, ``len(std) == C``, all positive.

    Raises:
        DatasetError: on construction, if dtypes, shapes, label ranges or the length of
            ``mean``/``std`` are inconsistent.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        problems: list[str] = []
        shapes = []
        for split in ("train", "test"):
            images = getattr(self, f"{split}_images")
            labels = getattr(self, f"{split}_labels")
            if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
                problems.append(f"{split}_images must be a uint8 array of shape (N, C, H, W), got {_describe(images)}")
                continue
            if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
                problems.append(f"{split}_labels must be an int64 array of shape (N,), got {_describe(labels)}")
                continue
            if len(labels) != len(images):
                problems.append(f"{split}: {len(images)} images but {len(labels)} labels")
            if len(labels) and (labels.min() < 0 or labels.max() >= self.classes):
                problems.append(f"{split}_labels span [{labels.min()}, {labels.max()}], outside [0, {self.classes})")
            shapes.append(images.shape[1:])
        if len(shapes) == 2 and shapes[0] != shapes[1]:
            problems.append(f"train images are {shapes[0]} but test images are {shapes[1]}")
        if shapes:
            channels = shapes[0][0]
            if len(self.mean) != channels or len(self.std) != channels:
                problems.append(f"mean {self.mean} and std {self.std} need {channels} values each")
            if any(not s > 0 for s in self.std):
                problems.append(f"std {self.std} must be positive")
        if self.classes < 1:
            problems.append(f"classes must be >= 1, got {self.classes}")
        if problems:
            raise DatasetError(f"inconsistent dataset {self.name!r}: " + "; ".join(problems))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, input_shape={self.input_shape}, "
            f"classes={self.classes}, mean={self.mean}, std={self.std})"
        )


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def build_dataset(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    folder: Path,
) -> ImageDataset:
    """An :class:`ImageDataset` from a reader's arrays; ``folder`` (where they were read) goes into errors.

    Raises:
        DatasetError: the arrays are inconsistent (see :class:`ImageDataset`); the message ends
            with ``(read from <folder>)``.
    """
    try:
        return ImageDataset(
            name,
            train_x,
            train_y,
            test_x,
            test_y,
            int(classes),
            tuple(float(m) for m in mean),
            tuple(float(s) for s in std),
        )
    except DatasetError as exc:
        raise DatasetError(f"{exc} (read from {folder})") from exc
