"""Calibration (paper §III-C, eq. 2): absolute values → relative values in (0, 1).

``f_r(n) = g((f_a(n) − µ) / σ)`` with ``g`` the logistic function, µ and σ over the species
(or the whole ecosystem without speciation).

Relative complexity is left undefined by the paper. ecosim defines it by default as the logistic
of the **negated** z-score of parameter counts: ``c_r(n) = g(−(P(n) − µ_P) / σ_P)``, as PyCortex's
code does. A network larger than its peers gets a smaller ``c_r`` and therefore a *larger*
culling weight ``age / (f_r · c_r)`` (eq. 9): among equally fit and equally old networks, the
larger one is the more likely to be culled. ``ecosystem.complexity_favours = "larger"`` takes
``g(+z)`` instead, eq. 9 as its text reads (and as PyCortex's comment describes its culling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def logistic_zscore(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``g((x − µ) / σ)`` element-wise, float64 ``(n,)``; all 0.5 when σ = 0 (all equal) or n ≤ 1.

    Non-finite inputs are treated as the minimum of the finite ones (a failed network is
    least fit), so outputs are always finite and in (0, 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, x[finite].min() if finite.any() else 0.0)
    sigma = x.std()
    if sigma <= 0 or not np.isfinite(sigma):
        return np.full(x.shape, 0.5)
    z = (x - x.mean()) / sigma
    return 1.0 / (1.0 + np.exp(-z))


def relative_fitness(fitness: Sequence[float]) -> np.ndarray:
    """Relative fitness of eq. 2 for absolute fitness values ``(n,)`` (fractions in [0, 1])."""
    return logistic_zscore(fitness)


def relative_complexity(sizes: Sequence[float], favour: str = "smaller") -> np.ndarray:
    """Relative complexity ``c_r`` of network sizes ``(n,)`` (parameters or multiply-accumulates).

    ``favour = "smaller"``: ``g(−z)``, a larger network gets a smaller value, so a larger culling
    weight in eq. 9 (ecosim's default, PyCortex's code). ``"larger"``: ``g(+z)``, the relative
    complexity as eq. 9's text reads (PyCortex's comment: simple networks are culled first).

    >>> relative_complexity([1, 3]).round(3).tolist(), relative_complexity([1, 3], "larger").round(3).tolist()
    ([0.731, 0.269], [0.269, 0.731])

    Raises:
        ValueError: ``favour`` is neither ``"smaller"`` nor ``"larger"``.
    """
    if favour not in ("smaller", "larger"):
        raise ValueError(f"favour must be 'smaller' or 'larger', got {favour!r}")
    x = np.asarray(sizes, dtype=np.float64)
    return logistic_zscore(x if favour == "larger" else -x)


__all__ = ["logistic_zscore", "relative_complexity", "relative_fitness"]
