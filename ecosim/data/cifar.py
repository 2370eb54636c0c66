"""CIFAR-10: the official python version read with torchvision, or the offline JPEG tarball.

Files: ``DIR/cifar-10-batches-py/`` (official; read, or downloaded, with torchvision), else
``DIR/cifar10-jpeg-q75.tar.gz`` (:data:`~ecosim.data.record.CIFAR10_TARBALL`). Images are
``(N, 3, 32, 32)`` uint8, 10 classes.

CIFAR-10 as JPEG tarball
------------------------
Machines without internet get CIFAR-10 as ``cifar10-jpeg-q75.tar.gz`` (JPEG quality-75
re-encodings, ImageFolder layout ``train/<class>/NNNN.jpg``, class folders sorting into the
official label order). On first use its 60,000 JPEGs are decoded straight from the tarball
(read once as a stream; nothing is extracted to disk; about half a minute, with progress logged
at INFO level on ``ecosim.data.cifar``) and the arrays are cached in
``<cache>/cifar10-jpeg-q75-<size>-sha256-<hex16>.npz`` (177 MB, :mod:`ecosim.data.cache`), keyed
by the tarball's size and content (hashing its 20 MB takes about 50 ms); later loads read only the
``.npz``, whatever the tarball's modification time (a copied data folder reuses the cache).
Concurrent first loads may each decode, but every file that appears is complete. The file of an
older ecosim for the same tarball (``<size>-<mtime_ns>.npz``) is taken over rather than decoded
again, and the other such files of the same size (the same tarball, copied at other times) are
removed; other keys are never deleted. A JPEG folder extracted there by an older ecosim is
removed. Members with unsafe names (absolute, or with ``..``) are refused.

Writes only the ``.npz`` in the cache folder (and removes those older files), or what a
torchvision download writes. torchvision is imported only for the official version.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import re
import shutil
import tarfile
import time
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ecosim.data.cache import NPZ_VERSION, read_npz, write_npz
from ecosim.data.download import read_or_download
from ecosim.data.images import decode_image, stack_splits
from ecosim.data.record import CIFAR10_TARBALL, NORMALISATION, ImageDataset, build_dataset
from ecosim.errors import DatasetError

__all__ = ["CIFAR10_CLASSES", "load_cifar10"]

log = logging.getLogger(__name__)

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""CIFAR-10 class names in official label order (also their sorted order)."""

_IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}
)  # torchvision's ImageFolder extensions


def load_cifar10(root: Path, download: bool, cache: Path) -> ImageDataset:
    """Load CIFAR-10 from the data root ``root``: the official version if present, else the tarball.

    Args:
        root: the data root. download: whether torchvision may download the official version
            (only when the tarball is absent). cache: the cache folder for the tarball's ``.npz``.

    Returns:
        An :class:`~ecosim.data.record.ImageDataset` of ``(N, 3, 32, 32)`` uint8 images, 10 classes.

    Raises:
        DataNotFoundError: neither form is there and none could be downloaded.
        DatasetError: the tarball is unreadable, unsafe or not CIFAR-10 (class folders, size).
    """
    mean, std = NORMALISATION["cifar10"]
    tarball = root / CIFAR10_TARBALL
    if not (root / "cifar-10-batches-py").is_dir() and tarball.is_file():
        train_x, train_y, test_x, test_y = _cifar10_from_tarball(tarball, cache)
        return build_dataset("cifar10", train_x, train_y, test_x, test_y, 10, mean, std, root)
    from torchvision import datasets

    def read(folder: Path, dl: bool) -> tuple[Any, Any]:
        return (
            datasets.CIFAR10(str(folder), train=True, download=dl),
            datasets.CIFAR10(str(folder), train=False, download=dl),
        )

    train, test = read_or_download("cifar10", root, download, "", read)

    def images(ds: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(ds.data, dtype=np.uint8).transpose(0, 3, 1, 2))

    def labels(ds: Any) -> np.ndarray:
        return np.asarray(ds.targets, dtype=np.int64)

    return build_dataset("cifar10", images(train), labels(train), images(test), labels(test), 10, mean, std, root)


def _content_key(path: Path) -> str:
    """The first 16 hex digits of ``path``'s SHA-256 (the cache key of its decoded arrays)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _cifar10_from_tarball(tarball: Path, cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the decoded arrays of the CIFAR-10 JPEG tarball, from the ``.npz`` when current.

    On first use the JPEGs are decoded straight from the tarball (nothing is extracted to disk)
    and the arrays cached; progress is logged at INFO level on this module's logger.
    """
    stat = tarball.stat()
    name = CIFAR10_TARBALL.removesuffix(".tar.gz")
    stem = f"{name}-{stat.st_size}-sha256-{_content_key(tarball)}"
    npz_path = cache / f"{stem}.npz"
    old_npz = cache / f"{name}-{stat.st_size}-{stat.st_mtime_ns}.npz"  # the key before 0.9.9: size and mtime
    stale = old_npz.with_suffix("")  # the JPEG folder older versions extracted beside the arrays
    if not npz_path.is_file() and old_npz.is_file():
        with contextlib.suppress(OSError):  # another process may take it over first, or the folder is read-only
            old_npz.replace(npz_path)
    cached = read_npz(npz_path)
    if cached is None and old_npz.is_file():  # could not be renamed: read where it is
        cached = read_npz(old_npz)
    if cached is not None:
        log.info("CIFAR-10 read from cache %s", npz_path if npz_path.is_file() else old_npz)
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        if npz_path.is_file():  # copies of the same tarball under the old key, made at other times
            for old in cache.glob(f"{name}-{stat.st_size}-*.npz"):
                if re.fullmatch(rf"{re.escape(name)}-{stat.st_size}-\d+", old.stem):  # never a sha256 key
                    with contextlib.suppress(OSError):
                        old.unlink()
        return cached

    log.info(
        "CIFAR-10 first use: decoding the 60,000 JPEGs of %s once (about half a minute); the arrays are cached in %s",
        tarball,
        npz_path,
    )
    start = time.perf_counter()
    (train_x, train_y, train_classes), (test_x, test_y, test_classes) = _read_tarball_splits(tarball)
    log.info("decoded %d CIFAR-10 JPEGs in %.1f s", len(train_y) + len(test_y), time.perf_counter() - start)
    for classes in (train_classes, test_classes):
        if tuple(classes) != CIFAR10_CLASSES:
            raise DatasetError(
                f"dataset 'cifar10': the class folders in {tarball} are {classes}, expected {list(CIFAR10_CLASSES)}"
            )
    if train_x.shape[1:] != (3, 32, 32):
        raise DatasetError(
            f"dataset 'cifar10': images in {tarball} are {train_x.shape[1:]} (C, H, W), expected (3, 32, 32)"
        )
    write_npz(
        npz_path,
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        version=np.asarray(NPZ_VERSION, dtype=np.int64),
    )
    if stale.is_dir():
        shutil.rmtree(stale, ignore_errors=True)
    return train_x, train_y, test_x, test_y


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (progress through a compressed stream)."""

    def __init__(self, raw: Any) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n


def _split_member(name: str) -> tuple[str, str, str] | None:
    """``(split, class, path within the class)`` of a tarball member in ImageFolder layout.

    The layout may sit at the top of the tarball or inside one top-level folder
    (``[top/]train|test/<class>/.../<image>``); other members (a README) give ``None``.
    """
    parts = PurePosixPath(name).parts
    for skip in (0, 1):
        rest = parts[skip:]
        if len(rest) >= 3 and rest[0] in ("train", "test"):
            if PurePosixPath(rest[-1]).suffix.lower() not in _IMAGE_SUFFIXES:
                return None
            return rest[0], rest[1], "/".join(rest[2:])
    return None


def _read_tarball_splits(
    tarball: Path,
) -> tuple[tuple[np.ndarray, np.ndarray, list[str]], tuple[np.ndarray, np.ndarray, list[str]]]:
    """Decode the ``train/`` and ``test/`` images of an ImageFolder-layout tarball into ``(N, C, H, W)`` uint8.

    The tarball is read once as a stream; nothing is written to disk. Classes and images come
    in ImageFolder's order (sorted class folders, sorted paths within each), so the labels
    equal those of the extracted folder read by ImageFolder.

    Raises:
        DatasetError: an unreadable tarball, a member with an unsafe name (absolute, or with
            ``..``), an undecodable image, images of different sizes, or no ``train/``+``test/``.
    """
    decoded: dict[str, dict[str, list[tuple[str, np.ndarray]]]] = {"train": {}, "test": {}}
    total = max(1, tarball.stat().st_size)
    next_report, count = 0.1, 0
    try:
        with open(tarball, "rb") as raw:
            reader = _CountingReader(raw)
            with tarfile.open(fileobj=io.BufferedReader(reader), mode="r|*") as archive:
                for member in archive:
                    path = PurePosixPath(member.name)
                    if path.is_absolute() or ".." in path.parts:
                        raise tarfile.TarError(f"refusing unsafe member {member.name!r}")
                    where = _split_member(member.name) if member.isfile() else None
                    if where is None:
                        continue
                    fh = archive.extractfile(member)
                    if fh is None:
                        continue
                    try:
                        image = decode_image(io.BytesIO(fh.read()))
                    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises
                        raise DatasetError(
                            f"dataset 'cifar10': cannot decode {member.name} in {tarball}: {exc}"
                        ) from exc
                    split, cls, rel = where
                    decoded[split].setdefault(cls, []).append((rel, image))
                    count += 1
                    if reader.count / total >= next_report:
                        log.info(  # the tarball is read ahead of the decoding: the count leads
                            "CIFAR-10: %d images decoded so far (%.0f%% of %s read)",
                            count,
                            100 * reader.count / total,
                            tarball.name,
                        )
                        next_report += 0.1
    except DatasetError:
        raise
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DatasetError(f"dataset 'cifar10': cannot read {tarball}: {type(exc).__name__}: {exc}") from exc
    if not decoded["train"] or not decoded["test"]:
        raise DatasetError(
            f"dataset 'cifar10': the tarball {tarball} holds no train/ and test/ folders; "
            "expected train/<class>/NNNN.jpg and test/<class>/NNNN.jpg"
        )
    images: list[list[tuple[np.ndarray, str]]] = []
    labels: list[np.ndarray] = []
    classes: list[list[str]] = []
    for split in ("train", "test"):
        names = sorted(decoded[split])
        items = [
            (label, array, f"{split}/{cls}/{rel}")
            for label, cls in enumerate(names)
            for rel, array in sorted(decoded[split][cls], key=lambda item: item[0])
        ]
        images.append([(array, name) for _, array, name in items])
        labels.append(np.asarray([label for label, _, _ in items], dtype=np.int64))
        classes.append(names)
    train_x, test_x = stack_splits(images, f"dataset 'cifar10' in {tarball}")
    return (train_x, labels[0], classes[0]), (test_x, labels[1], classes[1])
