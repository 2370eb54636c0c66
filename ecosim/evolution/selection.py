"""Parent selection by relative fitness (paper §III-F)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def select_parents(rng: np.random.Generator, relative_fitness: Sequence[float], k: int = 2) -> list[int]:
    """Pick ``k`` distinct indices with probability ∝ relative fitness (uniform if all are 0).

    Args:
        relative_fitness: ``(n,)`` values in [0, 1] (eq. 2).
        k: parents to pick; capped at ``n``.

    Returns:
        indices into ``relative_fitness``, the fitter first in expectation.

    Raises:
        ValueError: ``relative_fitness`` is empty.
    """
    p = np.asarray(relative_fitness, dtype=np.float64)
    if p.size == 0:
        raise ValueError("select_parents needs at least one candidate")
    p = np.clip(np.nan_to_num(p, nan=0.0), 0.0, None)
    p = np.full(p.shape, 1.0 / p.size) if p.sum() <= 0 else p / p.sum()
    k = min(k, p.size)
    return [int(i) for i in rng.choice(p.size, size=k, replace=False, p=p)]


__all__ = ["select_parents"]
