"""Culling (paper §III-G, eq. 9): ``p_cull(n) ∝ age(n) / (f_r(n) · c_r(n))``.

Offspring of this generation and each species' champion are protected; the others are removed
one at a time, each draw re-normalised over the remaining candidates, until the limit holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cull_weights(ages: Sequence[int], rel_fitness: Sequence[float], rel_complexity: Sequence[float]) -> np.ndarray:
    """Unnormalised eq. 9 weights ``age / (f_r · c_r)``, float64 ``(n,)``.

    Ages are in generations (epochs trained). Relative values are clipped to ≥ 1e-9 so the
    weights stay finite.
    """
    age = np.asarray(ages, dtype=np.float64)
    denom = np.clip(np.asarray(rel_fitness, dtype=np.float64), 1e-9, None) * np.clip(
        np.asarray(rel_complexity, dtype=np.float64), 1e-9, None
    )
    return age / denom


def cull(
    rng: np.random.Generator,
    ages: Sequence[int],
    rel_fitness: Sequence[float],
    rel_complexity: Sequence[float],
    protected: Sequence[bool],
    n_remove: int,
) -> list[int]:
    """Indices to remove, drawn one by one by eq. 9 among unprotected networks.

    Args:
        ages, rel_fitness, rel_complexity, protected: ``(n,)`` per network.
        n_remove: how many to remove; fewer are returned when too few are unprotected.

    Returns:
        removed indices in draw order. When every remaining weight is 0 (e.g. all ages 0) the
        draw is uniform over the unprotected.
    """
    w = cull_weights(ages, rel_fitness, rel_complexity)
    alive = [i for i, p in enumerate(protected) if not p]
    removed: list[int] = []
    while alive and len(removed) < n_remove:
        ww = w[alive]
        p = np.full(len(alive), 1.0 / len(alive)) if ww.sum() <= 0 else ww / ww.sum()
        k = int(rng.choice(len(alive), p=p))
        removed.append(alive.pop(k))
    return removed


__all__ = ["cull", "cull_weights"]
