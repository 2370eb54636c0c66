"""A dataset given as a folder of images: ``<folder>/{train,test}/<class>/<image>``.

The class folders are listed with torchvision's ``ImageFolder`` (so labels follow its sorted
order); the images are decoded with Pillow and must all have one size. Images are
``(N, C, H, W)`` uint8 with ``C = 1`` when every image is grayscale and ``C = 3`` otherwise
(alpha is dropped). The mean and (population) std per channel are computed from the training
images. torchvision is imported when a folder is read. Reads only; writes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ecosim.data.images import decode_image, stack_splits
from ecosim.data.record import ImageDataset, build_dataset
from ecosim.errors import DatasetError

__all__ = ["find_folder", "load_image_folder", "looks_like_path"]


def looks_like_path(name: str) -> bool:
    """Whether a dataset ``name`` is written as a path (a separator, or a leading ``.`` or ``~``)."""
    return os.sep in name or (os.altsep is not None and os.altsep in name) or name.startswith((".", "~"))


def find_folder(name: str, root: Path | None) -> Path | None:
    """The existing folder ``name`` names (absolute, resolved): as given, else under ``root``; else ``None``."""
    candidates = [Path(name).expanduser()]
    if root is not None and not Path(name).expanduser().is_absolute():
        candidates.append(root / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


def load_image_folder(folder: Path) -> ImageDataset:
    """Read ``folder/train`` and ``folder/test`` as an :class:`~ecosim.data.record.ImageDataset` named ``str(folder)``.

    Raises:
        DatasetError: no ``train/`` or ``test/``, different class folders in the two, an
            undecodable image, or images of different sizes; the message names the folder.
    """
    if not ((folder / "train").is_dir() and (folder / "test").is_dir()):
        names = sorted(p.name for p in folder.iterdir())
        found = ", ".join(names[:8]) + (f", … ({len(names)} entries)" if len(names) > 8 else "") if names else "nothing"
        raise DatasetError(
            f"dataset folder {folder} needs train/ and test/ subfolders, each laid out as <class>/<image>; "
            f"found {found}"
        )
    (train_x, train_y, train_classes), (test_x, test_y, test_classes) = _read_image_folder_splits(folder)
    if train_classes != test_classes:
        raise DatasetError(
            f"dataset folder {folder}: train/ has classes {train_classes} but "
            f"test/ has {test_classes}; both need the same class folders"
        )
    mean, std = _channel_stats(train_x)
    return build_dataset(str(folder), train_x, train_y, test_x, test_y, len(train_classes), mean, std, folder)


def _read_image_folder_splits(
    folder: Path,
) -> tuple[tuple[np.ndarray, np.ndarray, list[str]], tuple[np.ndarray, np.ndarray, list[str]]]:
    """Decode ``folder/train`` and ``folder/test`` with ImageFolder into ``(N, C, H, W)`` uint8.

    Both splits get the same channel count: 1 if every image is grayscale, else 3.
    """
    from torchvision import datasets

    images, labels, classes = [], [], []
    for split in ("train", "test"):
        split_dir = folder / split
        try:
            image_folder = datasets.ImageFolder(str(split_dir))
        except (FileNotFoundError, OSError) as exc:
            raise DatasetError(
                f"dataset folder {folder}: cannot read {split_dir} as <class>/<image> folders: {exc}"
            ) from exc
        images.append(_decode_all([path for path, _ in image_folder.samples], split_dir))
        labels.append(np.asarray([label for _, label in image_folder.samples], dtype=np.int64))
        classes.append(list(image_folder.classes))
    train_x, test_x = stack_splits(images, f"dataset folder {folder}")
    return (train_x, labels[0], classes[0]), (test_x, labels[1], classes[1])


def _decode_all(paths: list[str], folder: Path) -> list[tuple[np.ndarray, str]]:
    """Decode image files one by one, in order.

    Threads gave no speed-up on 32x32 JPEGs: Pillow's per-file Python overhead dominates.
    """
    out = []
    for path in paths:
        try:
            out.append((decode_image(path), path))
        except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for bad files
            raise DatasetError(f"dataset folder {folder}: cannot decode {path}: {exc}") from exc
    return out


def _channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of ``(N, C, H, W)`` uint8 images, in [0,1] units.

    A channel with zero spread gets std 1.0 so that :func:`ecosim.phenotype.normalise.normalise` stays finite.
    """
    channels = images.shape[1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(images), 4096):
        chunk = images[start : start + 4096].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        total_sq += np.square(chunk).sum(axis=(0, 2, 3))
    count = max(1, images.shape[0] * images.shape[2] * images.shape[3])
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std = np.where(std > 1e-8, std, 1.0)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
