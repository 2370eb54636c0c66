"""Image files to uint8 arrays: decoding with Pillow, the one-size check, stacking into ``(N, C, H, W)``.

Shared by the readers of image folders (:mod:`ecosim.data.folders`) and of the CIFAR-10 JPEG
tarball (:mod:`ecosim.data.cifar`). Pillow is imported when an image is decoded. Writes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from ecosim.errors import DatasetError

__all__ = ["decode_image", "stack_splits"]

_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "I;16L", "I;16B", "F"})

#: ``(pixels, name)``: a decoded image, ``(H, W)`` grayscale or ``(H, W, 3)`` RGB uint8, and the
#: name that errors give it (its path)
Named = tuple[np.ndarray, str]


def decode_image(source: str | Path | IO[bytes]) -> np.ndarray:
    """Decode an image file (a path or a binary file object) to ``(H, W)`` or ``(H, W, 3)`` uint8.

    Grayscale modes (1-bit, 8/16/32-bit, float) give ``(H, W)``; every other mode is converted to
    RGB ``(H, W, 3)`` (alpha and palettes are dropped).

    Raises:
        OSError, ValueError, SyntaxError: what Pillow raises for a file it cannot decode.
    """
    from PIL import Image

    with Image.open(source) as image:
        mode = "L" if image.mode in _GRAY_MODES else "RGB"
        return np.asarray(image.convert(mode))


def stack_splits(splits: Sequence[Sequence[Named]], source: str) -> list[np.ndarray]:
    """Stack each split's images into one ``(N, C, H, W)`` uint8 array, after checking they have one size.

    All splits get the same channel count ``C``: 1 if every image is grayscale, else 3 (grayscale
    images are repeated into three channels).

    Args:
        splits: per split, its images in order (see :data:`Named`).
        source: what the images were read from, starting an error (``"dataset folder DIR"``).

    Returns:
        One array per split, C-contiguous; an empty split gives shape ``(0, C, 0, 0)``.

    Raises:
        DatasetError: two images differ in size; names the first image and the first that differs.
    """
    _check_same_size(itertools.chain.from_iterable(splits), source)
    channels = 3 if any(a.ndim == 3 for images in splits for a, _ in images) else 1
    return [_stack(images, channels) for images in splits]


def _check_same_size(images: Iterable[Named], source: str) -> None:
    first: Named | None = None
    for array, name in images:
        if first is None:
            first = (array, name)
        elif array.shape[:2] != first[0].shape[:2]:
            (h0, w0), (h, w) = first[0].shape[:2], array.shape[:2]
            raise DatasetError(
                f"{source}: images differ in size: {first[1]} is {w0}x{h0} but {name} is {w}x{h} "
                "(width x height); all images must have the same size"
            )


def _stack(images: Sequence[Named], channels: int) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 3)`` arrays of one size to one ``(N, channels, H, W)`` uint8 array."""
    if not images:
        return np.zeros((0, channels, 0, 0), dtype=np.uint8)
    arrays = [a for a, _ in images]
    if all(a.ndim == 3 for a in arrays):
        return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))
    if all(a.ndim == 2 for a in arrays):
        stacked = np.stack(arrays)[:, None, :, :]
        return np.ascontiguousarray(np.repeat(stacked, channels, axis=1) if channels > 1 else stacked)
    h, w = arrays[0].shape[:2]
    out = np.empty((len(arrays), channels, h, w), dtype=np.uint8)
    for i, a in enumerate(arrays):
        out[i] = a if a.ndim == 2 else a.transpose(2, 0, 1)
    return out
