"""Splitting a generation's offspring over species: the largest-remainder method.

The shares come from :meth:`EcosystemPolicy.allocate <ecosim.evolution.ecosystem.EcosystemPolicy.allocate>`
(``ecosystem.species_allocation``; the paper does not say how offspring are split, see
``docs/design.md``). No Ray, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def largest_remainder(total: int, shares: Mapping[int, float]) -> dict[int, int]:
    """Split ``total`` items over keys in proportion to ``shares`` (largest remainder method).

    Negative shares count as 0; if every share is 0 the split is uniform. Each key gets
    ``floor(total · s_k / Σ s)`` and the items left go one each to the largest remainders
    (ties: lower key first).

    Args:
        total: items to split (≤ 0 gives every key 0).
        shares: ``{key: share}``.

    Returns:
        ``{key: count}`` over the same keys, summing exactly to ``max(total, 0)`` (if any key).

    >>> largest_remainder(5, {0: 1.0, 1: 1.0, 2: 2.0})
    {0: 1, 1: 1, 2: 3}
    """
    if not shares or total <= 0:
        return {k: 0 for k in shares}
    keys = sorted(shares)
    w = np.array([max(0.0, float(shares[k])) if math.isfinite(shares[k]) else 0.0 for k in keys], dtype=np.float64)
    w = np.ones_like(w) if w.sum() <= 0 else w
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    rest = total - int(base.sum())
    order = sorted(range(len(keys)), key=lambda i: (-(exact[i] - base[i]), keys[i]))
    for i in order[:rest]:
        base[i] += 1
    return {k: int(b) for k, b in zip(keys, base)}


__all__ = ["largest_remainder"]
