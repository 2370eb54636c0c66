"""Ray-free evolution policy: calibration (eq. 2), parent selection, culling (eq. 9)."""

from ecosim.evolution.calibration import logistic_zscore, relative_complexity, relative_fitness
from ecosim.evolution.culling import cull, cull_weights
from ecosim.evolution.selection import select_parents

__all__ = [
    "cull",
    "cull_weights",
    "logistic_zscore",
    "relative_complexity",
    "relative_fitness",
    "select_parents",
]
