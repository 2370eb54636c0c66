"""Shape and stride sampling by eq. 1: ``p(h, w) ∝ exp(−h·w)`` (paper §III-A).

The product form as written: a 3×3 kernel weighs ``exp(−9)``, a 1×1 kernel ``exp(−1)``, so
most new kernels and strides start minimal and grow through mutation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np


def eq1_choice(rng: np.random.Generator, candidates: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Draw one ``(a, b)`` from ``candidates`` with probability ∝ ``exp(−a·b)`` (eq. 1).

    Raises:
        ValueError: no candidates.
    """
    if not candidates:
        raise ValueError("eq1_choice needs at least one candidate")
    return tuple(candidates[int(rng.choice(len(candidates), p=_eq1_probabilities(candidates)))])  # type: ignore[return-value]


def _eq1_probabilities(candidates: Sequence[tuple[int, int]]) -> np.ndarray:
    logits = -np.array([a * b for a, b in candidates], dtype=np.float64)
    p = np.exp(logits - logits.max())
    return p / p.sum()


@functools.lru_cache(maxsize=256)
def _table(max_h: int, max_w: int, step: int) -> tuple[tuple[tuple[int, int], ...], np.ndarray]:
    """Candidates (``step`` 2: odd sizes) and their eq. 1 probabilities, computed once per bound."""
    top = EQ1_LARGEST_PRODUCT
    hs = range(1, min(max_h, top) + 1, step)
    cands = tuple((h, w) for h in hs for w in range(1, min(max_w, top // h) + 1, step))
    p = _eq1_probabilities(cands)
    p.flags.writeable = False  # shared by every draw of this bound
    return cands, p


def _draw(rng: np.random.Generator, max_h: int, max_w: int, step: int) -> tuple[int, int]:
    if max_h < 1 or max_w < 1:
        raise ValueError("eq1_choice needs at least one candidate")
    cands, p = _table(max_h, max_w, step)
    return cands[int(rng.choice(len(cands), p=p))]


#: products ``h·w`` above this weigh ``exp(−h·w) / exp(−1) = 0.0`` in float64 (it underflows below
#: ``exp(−745)``), so the samplers leave them out: a draw on a large input (a 1024×1024 dummy input
#: has 65,536 odd kernel shapes) then costs as much as on a small one
EQ1_LARGEST_PRODUCT = 800


def sample_kernel_shape(rng: np.random.Generator, max_h: int, max_w: int) -> tuple[int, int]:
    """Odd kernel shape ``(h, w)`` with ``1 ≤ h ≤ max_h``, ``1 ≤ w ≤ max_w``, drawn by eq. 1.

    Shapes with ``h·w >`` :data:`EQ1_LARGEST_PRODUCT` (probability below ``1e-300``) are left out.
    """
    return _draw(rng, max_h, max_w, 2)


def sample_stride(rng: np.random.Generator, max_h: int, max_w: int) -> tuple[int, int]:
    """Stride ``(sh, sw)`` with ``1 ≤ sh ≤ max_h``, ``1 ≤ sw ≤ max_w``, drawn by eq. 1.

    Strides with ``sh·sw >`` :data:`EQ1_LARGEST_PRODUCT` (probability below ``1e-300``) are left out.
    """
    return _draw(rng, max_h, max_w, 1)


__all__ = ["EQ1_LARGEST_PRODUCT", "eq1_choice", "sample_kernel_shape", "sample_stride"]
