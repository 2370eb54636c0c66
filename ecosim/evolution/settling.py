"""Search, then train: the point after which reproduction stops (``ecosystem.settle``, issue 17).

No Ray, no torch. A lever beyond the paper, off by default. Evolution finds cheap architectures
early (every lever set leads the fixed baselines at an eighth of the compute budget) but trails
them at the full budget: a third to a sixth of its population is new every generation, so no
lineage trains as long as a fixed baseline's networks do. Settling spends the rest of the run the
way a baseline does: from the settle point on no offspring are made, and (with ``keep``) only the
``keep`` fittest networks train on, so the remaining compute goes to them.

:class:`~ecosim.evolution.ecosystem.EcosystemPolicy` asks :meth:`Settling.reached` in its
allocation (no offspring) and its culling (:func:`keep_fittest`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecosim.evolution.records import CullCandidate

if TYPE_CHECKING:  # reads two sections' fields; does not depend on the config module
    from ecosim.config import EcosystemConfig, RunConfig

#: the settle point is a milestone of the run: ``ecosim`` shows this logger's info lines always
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settling:
    """Where reproduction stops, and how many networks train on after it.

    Args:
        macs: training multiply-accumulates (the generations log's ``train_macs`` summed) from
            which on no offspring are made; ``math.inf`` when the point is a generation.
        generation: the first generation without offspring; ``None`` when the point is ``macs``.
        keep: the fittest networks that train on (the others are culled at the point); 0: all.

    >>> s = Settling(generation=5, keep=2)
    >>> s.reached(4, 0.0), s.reached(5, 0.0)
    (False, True)
    """

    macs: float = math.inf
    generation: int | None = None
    keep: int = 0

    @classmethod
    def of(cls, run: RunConfig, ecosystem: EcosystemConfig) -> Settling | None:
        """The settle point of a run: ``ecosystem.settle`` × ``run.train_macs`` with a compute
        budget, else ⌈``ecosystem.settle`` × ``run.generations``⌉; ``None`` when
        ``ecosystem.settle`` is 0 (the paper: reproduction never stops).

        >>> from ecosim.config import EcosystemConfig, RunConfig
        >>> Settling.of(RunConfig(generations=10), EcosystemConfig(settle=0.5, settle_keep=4))
        Settling(macs=inf, generation=5, keep=4)
        >>> Settling.of(RunConfig(train_macs=1e12), EcosystemConfig(settle=0.25)).macs
        250000000000.0
        """
        if ecosystem.settle <= 0:
            return None
        keep = ecosystem.settle_keep
        if keep >= ecosystem.max_population:
            log.warning(
                "ecosystem.settle_keep = %d is not below ecosystem.max_population = %d: every network "
                "trains on after the settle point",
                keep,
                ecosystem.max_population,
            )
        if run.train_macs > 0:
            return cls(macs=ecosystem.settle * run.train_macs, keep=keep)
        point = math.ceil(ecosystem.settle * run.generations)
        if point >= run.generations:
            log.warning(
                "ecosystem.settle = %g of run.generations = %d is generation %d, after the last: the run never settles",
                ecosystem.settle,
                run.generations,
                point,
            )
        return cls(generation=point, keep=keep)

    def reached(self, generation: int, train_macs_spent: float | None) -> bool:
        """Whether ``generation`` makes no offspring.

        Args:
            generation: the generation whose reproduction or culling step asks.
            train_macs_spent: training multiply-accumulates of the generations written before it
                (``None``: unknown, an older checkpoint: not reached).
        """
        if self.generation is not None:
            return generation >= self.generation
        return train_macs_spent is not None and train_macs_spent >= self.macs


def announce(generation: int, keep: int) -> None:
    """The ``info`` line of the settle point (shown by ``ecosim`` and the experiment runner)."""
    who = f"the {keep} fittest networks train on" if keep else "every network trains on"
    log.info("generation %d: settled (ecosystem.settle): no more offspring, %s", generation, who)


def keep_fittest(candidates: Sequence[CullCandidate], keep: int) -> list[CullCandidate]:
    """The candidates to cull so that only the ``keep`` fittest remain (all kept when ``keep`` is 0
    or at least their number).

    Fitness decides, the lower network id first on ties; a network never scored (``fitness``
    ``None``) ranks last.

    >>> cands = [CullCandidate(i, 0, 1, 0.5, 0.5, fitness=f) for i, f in enumerate([0.9, 0.95, None, 0.9])]
    >>> [c.network_id for c in keep_fittest(cands, 2)]
    [2, 3]
    """
    if keep <= 0 or len(candidates) <= keep:
        return []
    ranked = sorted(
        candidates, key=lambda c: (c.fitness is None, -(c.fitness if c.fitness is not None else 0.0), c.network_id)
    )
    return sorted(ranked[keep:], key=lambda c: c.network_id)


__all__ = ["Settling", "announce", "keep_fittest"]
