"""Shape and stride sampling by eq. 1: ``p(h, w) ∝ exp(−h·w)`` (paper §III-A).

The product form as written: a 3×3 kernel weighs ``exp(−9)``, a 1×1 kernel ``exp(−1)``, so
most new kernels and strides start minimal and grow through mutation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def eq1_choice(rng: np.random.Generator, candidates: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Draw one ``(a, b)`` from ``candidates`` with probability ∝ ``exp(−a·b)`` (eq. 1).

    Raises:
        ValueError: no candidates.
    """
    if not candidates:
        raise ValueError("eq1_choice needs at least one candidate")
    logits = -np.array([a * b for a, b in candidates], dtype=np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return tuple(candidates[int(rng.choice(len(candidates), p=p))])  # type: ignore[return-value]


def sample_kernel_shape(rng: np.random.Generator, max_h: int, max_w: int) -> tuple[int, int]:
    """Odd kernel shape ``(h, w)`` with ``1 ≤ h ≤ max_h``, ``1 ≤ w ≤ max_w``, drawn by eq. 1."""
    cands = [(h, w) for h in range(1, max_h + 1, 2) for w in range(1, max_w + 1, 2)]
    return eq1_choice(rng, cands)


def sample_stride(rng: np.random.Generator, max_h: int, max_w: int) -> tuple[int, int]:
    """Stride ``(sh, sw)`` with ``1 ≤ sh ≤ max_h``, ``1 ≤ sw ≤ max_w``, drawn by eq. 1."""
    cands = [(h, w) for h in range(1, max_h + 1) for w in range(1, max_w + 1)]
    return eq1_choice(rng, cands)


__all__ = ["eq1_choice", "sample_kernel_shape", "sample_stride"]
