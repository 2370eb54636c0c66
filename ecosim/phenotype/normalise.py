"""The one implementation of the dataset normalisation: ``(x / max_value - mean[c]) / std[c]``.

Paper §IV (inputs normalised per channel, as in the reference implementation's
``transforms.Normalize``). Images travel as uint8 ``(N, C, H, W)`` (four times smaller in Ray's
object store than float32) and become float32 only batch by batch, on the training device.

The formula is evaluated as one multiply-subtract, ``x · scale − shift`` with
``scale = 1 / (max_value · std)`` and ``shift = mean / std`` (constants computed in float64, then
rounded to float32), on one freshly allocated float32 buffer. :func:`normalise` serves training
and scoring (``max_value = 255``, uint8 input); an exported model that takes float images in
``[0, 1]`` registers :func:`normalisation_constants` with ``max_value = 1.0`` as buffers and calls
:func:`apply_normalisation` in its ``forward``.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ecosim.errors import ConfigError


def normalisation_constants(
    mean: Sequence[float],
    std: Sequence[float],
    max_value: float = 255.0,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """``(scale, shift)`` with ``x · scale − shift = (x / max_value − mean) / std`` per channel.

    Args:
        mean (sequence of float): ``C`` per-channel means in ``[0, 1]`` pixel units.
        std (sequence of float): ``C`` per-channel standard deviations, all positive.
        max_value (float, default 255.0): the pixel value that means 1.0 (255 for uint8 images,
            1.0 for float images already in ``[0, 1]``).
        device: where the constants live (default: CPU).

    Returns:
        Two float32 tensors of shape ``(C, 1, 1)``.

    Raises:
        ConfigError: ``mean`` and ``std`` of different lengths or empty, a non-positive ``std``,
            or a non-positive ``max_value``.

    >>> scale, shift = normalisation_constants([0.5], [0.25])
    >>> scale.shape, round(float(scale), 6), float(shift)
    (torch.Size([1, 1, 1]), 0.015686, 2.0)
    """
    mean_t = torch.as_tensor(tuple(float(m) for m in mean), dtype=torch.float64)
    std_t = torch.as_tensor(tuple(float(s) for s in std), dtype=torch.float64)
    if mean_t.dim() != 1 or mean_t.numel() == 0 or mean_t.shape != std_t.shape:
        raise ConfigError(
            f"normalisation needs one mean and one std value per channel, got mean={tuple(mean)}, std={tuple(std)}"
        )
    if not bool((std_t > 0).all()) or not max_value > 0:
        raise ConfigError(
            f"normalisation needs positive std and max_value, got std={tuple(std)}, max_value={max_value}"
        )
    c = mean_t.numel()
    scale = (1.0 / (max_value * std_t)).to(torch.float32).view(c, 1, 1)
    shift = (mean_t / std_t).to(torch.float32).view(c, 1, 1)
    return scale.to(device), shift.to(device)


def apply_normalisation(
    images: Tensor,
    scale: Tensor,
    shift: Tensor,
    memory_format: torch.memory_format = torch.preserve_format,
) -> Tensor:
    """``images · scale − shift`` as a new float32 tensor (the input is never modified).

    Args:
        images: ``(..., C, H, W)`` tensor of any real dtype (uint8 or float), on ``scale``'s device.
        scale, shift: ``(C, 1, 1)`` float32, from :func:`normalisation_constants`.
        memory_format: strides of the result: ``torch.contiguous_format`` (channels-first),
            ``torch.channels_last`` (4-D input only) or ``torch.preserve_format`` (those of
            ``images``; beware that a ``(N, 1, H, W)`` array sliced with NumPy fancy indexing
            has channel stride 1 and so already counts as channels-last).

    Returns:
        float32 tensor of the same shape as ``images``, laid out as ``memory_format`` asks.

    Shape:
        ``(..., C, H, W)`` → ``(..., C, H, W)``.
    """
    out = torch.empty_like(images, dtype=torch.float32, memory_format=memory_format)
    return out.copy_(images).mul_(scale).sub_(shift)


def normalise(images_uint8: Tensor | np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Turn uint8 images into normalised float32: ``(x / 255 − mean[c]) / std[c]`` per channel.

    Args:
        images_uint8: uint8 tensor (or NumPy array) ``(N, C, H, W)`` (any leading dimensions
            before ``(C, H, W)`` work), on any device.
        mean: ``C`` per-channel means in ``[0, 1]`` pixel units (e.g. ``ImageDataset.mean``).
        std: ``C`` per-channel standard deviations, all positive.

    Returns:
        A float32 tensor of the same shape, on the same device as the input.

    Raises:
        ConfigError: the input is not uint8 with at least 3 dimensions, or ``mean``/``std``
            do not have one positive value per channel.

    Shape:
        ``(..., C, H, W)`` uint8 → ``(..., C, H, W)`` float32.

    >>> x = normalise(np.full((2, 1, 3, 3), 255, dtype=np.uint8), [0.5], [0.5])
    >>> x.dtype, float(x[0, 0, 0, 0])
    (torch.float32, 1.0)
    """
    x = torch.as_tensor(images_uint8)
    if x.dtype != torch.uint8 or x.dim() < 3:
        raise ConfigError(
            f"normalise expects uint8 images of shape (N, C, H, W), got {x.dtype} of shape {tuple(x.shape)}"
        )
    channels = x.shape[-3]
    if len(mean) != channels or len(std) != channels:
        raise ConfigError(
            f"normalise needs {channels} mean and std values (one per channel), got mean={tuple(mean)}, "
            f"std={tuple(std)}"
        )
    return apply_normalisation(x, *normalisation_constants(mean, std, 255.0, x.device))


#: standardised copies a process keeps (:func:`standardised`): the fitness and test sets, each in
#: up to two memory formats
STANDARDISED_KEPT = 4
_STANDARDISED: OrderedDict[tuple, tuple[np.ndarray, Tensor]] = OrderedDict()
_STANDARDISED_LOCK = threading.Lock()


def standardised(
    images: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str = "cpu",
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Tensor:
    """``images`` normalised once per process and kept: slices of it are ready batches (issue 18).

    A training task scores every network on the same fitness set; a Ray worker runs many
    tasks, so the set is turned into float32 (:func:`apply_normalisation`) and laid out in
    ``memory_format`` once, on first use, and the copy reused while ``images`` is the same array
    (the same buffer, shape and strides: the dataset a worker gets from Ray's object store stays
    at one address). The process keeps the :data:`STANDARDISED_KEPT` most recent copies and a
    reference to each source array, so a buffer cannot be freed and reused by other data while
    its copy is kept.

    Args:
        images: ``(N, C, H, W)`` uint8 array (read-only arrays are fine: never written).
        mean, std: per-channel normalisation constants.
        device: where the copy lives.
        memory_format: ``torch.contiguous_format`` or ``torch.channels_last``.

    Returns:
        float32 tensor ``(N, C, H, W)`` on ``device`` in ``memory_format``; do not modify it.

    Raises:
        ConfigError: bad ``mean``/``std`` (see :func:`normalisation_constants`).

    Shape:
        ``(N, C, H, W)`` uint8 → ``(N, C, H, W)`` float32.
    """
    key = (
        images.__array_interface__["data"][0],
        images.shape,
        images.strides,
        images.dtype.str,
        tuple(map(float, mean)),
        tuple(map(float, std)),
        str(device),
        str(memory_format),
    )
    with _STANDARDISED_LOCK:
        hit = _STANDARDISED.get(key)
        if hit is not None:
            _STANDARDISED.move_to_end(key)
            return hit[1]
    with warnings.catch_warnings():  # Ray's zero-copy arrays are read-only; this one is only read
        warnings.simplefilter("ignore", UserWarning)
        source = torch.as_tensor(images)
    scale, shift = normalisation_constants(mean, std, 255.0, device)
    out = apply_normalisation(source.to(device), scale, shift, memory_format)
    with _STANDARDISED_LOCK:
        _STANDARDISED[key] = (images, out)
        while len(_STANDARDISED) > STANDARDISED_KEPT:
            _STANDARDISED.popitem(last=False)
    return out


__all__ = ["STANDARDISED_KEPT", "apply_normalisation", "normalisation_constants", "normalise", "standardised"]
