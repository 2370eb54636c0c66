"""Image files to uint8 arrays: decoding with Pillow and stacking into ``(N, C, H, W)``.

Shared by the readers of image folders (:mod:`ecosim.data.folders`) and of the CIFAR-10 JPEG
tarball (:mod:`ecosim.data.cifar`). Pillow is imported when an image is decoded. Writes nothing.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["decode_bytes", "decode_file", "stack"]

_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "I;16L", "I;16B", "F"})


def decode_bytes(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        mode = "L" if image.mode in _GRAY_MODES else "RGB"
        return np.asarray(image.convert(mode))


def decode_file(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        mode = "L" if image.mode in _GRAY_MODES else "RGB"
        return np.asarray(image.convert(mode))


def stack(images: list[tuple[np.ndarray, str]], channels: int) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 3)`` arrays to one ``(N, channels, H, W)`` uint8 array."""
    if not images:
        return np.zeros((0, channels, 0, 0), dtype=np.uint8)
    arrays = [a for a, _ in images]
    if all(a.ndim == 3 for a in arrays):
        return np.ascontiguousarray(np.stack(arrays).transpose(0, 3, 1, 2))
    if all(a.ndim == 2 for a in arrays):
        stacked = np.stack(arrays)[:, None, :, :]
        return np.ascontiguousarray(np.repeat(stacked, channels, axis=1) if channels > 1
                                    else stacked)
    h, w = arrays[0].shape[:2]
    out = np.empty((len(arrays), channels, h, w), dtype=np.uint8)
    for i, a in enumerate(arrays):
        out[i] = a if a.ndim == 2 else a.transpose(2, 0, 1)
    return out
