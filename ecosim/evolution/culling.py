"""Culling (paper §III-G, eq. 9): ``p_cull(n) ∝ age(n) / (f_r(n) · c_r(n))``.

Offspring of this generation and each species' champion are protected; the others are removed
one at a time, each draw re-normalised over the remaining candidates, until the limit holds.
:func:`protect_new_structure` adds the protection of new structure (an issue-17 lever).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ecosim.evolution.records import CullCandidate
from ecosim.genome import SPECIES_KINDS, MutationKind


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


def protect_new_structure(
    generation: int,
    candidates: Sequence[CullCandidate],
    protected: Sequence[bool],
    excess: int,
    generations: int,
    removals: bool = True,
) -> list[bool]:
    """Eq. 9's protected flags with new structure protected too (``ecosystem.protect_new_structure``,
    an issue-17 lever beyond the paper, where protection ends at the first training).

    An offspring of a layer or node mutation (:data:`~ecosim.genome.mutation_kinds.SPECIES_KINDS`;
    additions only when ``removals`` is false) born ``generation − generations`` or later is
    protected. Where that would leave fewer than ``excess`` networks to draw from, protections
    lapse oldest first (then lowest id), so the ecosystem limit holds.

    Args:
        candidates, protected: ``(n,)`` per network, in the order eq. 9 draws over.
        excess: how many networks the draw must remove.
        generations: K, the generations of protection (0: none, the flags are returned as given).
        removals: whether removals (of a layer or node) are protected too
            (``ecosystem.protect_removals``).

    Returns:
        the new flags, ``(n,)``.
    """
    if generations <= 0:
        return list(protected)
    kinds = SPECIES_KINDS if removals else (MutationKind.ADD_LAYER, MutationKind.ADD_NODE)
    structural = {kind.value for kind in kinds}
    young = [
        i
        for i, c in enumerate(candidates)
        if not protected[i] and c.mutation in structural and 0 <= generation - c.born_generation <= generations
    ]
    room = sum(not p for p in protected) - excess  # how many more may be protected
    young.sort(key=lambda i: (-candidates[i].born_generation, candidates[i].network_id))  # newest first
    out = list(protected)
    for i in young[: max(0, room)]:
        out[i] = True
    return out


__all__ = ["cull", "cull_weights", "protect_new_structure"]
