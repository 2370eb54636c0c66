"""Search, then train: the point after which reproduction stops (``ecosystem.settle``, issue 17).

No Ray, no torch. A lever beyond the paper, off by default. Evolution finds cheap architectures
early (every lever set leads the fixed baselines at an eighth of the compute budget) but trails
them at the full budget: a third to a sixth of its population is new every generation, so no
lineage trains as long as a fixed baseline's networks do. Settling spends the rest of the run the
way a baseline does: from the settle point on no offspring are made, and (with ``keep``) only the
``keep`` fittest networks train on, so the remaining compute goes to them. With ``rungs`` (successive
halving, Jamieson & Talwalkar 2016) the rest of the run is split into equal parts and each part
keeps half the networks of the one before (:meth:`Settling.keep_at`). With ``lr_decay`` every
training after the settle generation runs at a lower learning rate, lowered again in each part
(:meth:`Settling.lr_scale_at`): the kept networks plateau at Adadelta's rate of 1.0, their fitness
varying by 0.1–0.2 points from one training to the next (``docs/design.md``).

This module is the static schedule (:class:`Settling`), the cull to the fittest
(:func:`keep_fittest`) and the settle log lines. A run's progress through the schedule (the point
reached, the parts announced, the lowest learning rate) and the decisions that depend on it are
:class:`~ecosim.evolution.settle_progress.SettleProgress`, which
:class:`~ecosim.evolution.ecosystem.EcosystemPolicy` asks in its allocation (no offspring), its
culling and for each training's learning rate.
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
        rungs: parts of the rest of the run; from part r on ``keep`` // 2^r train on (≥ 1).
        end_macs: the run's compute budget (``run.train_macs``) when the point is ``macs``.
        end_generation: the run's generations (``run.generations``): where the parts end when the
            point is a generation; with a compute budget, a cap that may end the run first.
        lr_decay: factor on the learning rate after the settle generation, once more per part
            (``ecosystem.settle_lr_decay``; 1: unchanged).

    >>> s = Settling(generation=5, keep=2)
    >>> s.reached(4, 0.0), s.reached(5, 0.0)
    (False, True)
    """

    macs: float = math.inf
    generation: int | None = None
    keep: int = 0
    rungs: int = 1
    end_macs: float = math.inf
    end_generation: int | None = None
    lr_decay: float = 1.0

    @classmethod
    def of(cls, run: RunConfig, ecosystem: EcosystemConfig) -> Settling | None:
        """The settle point of a run: ``ecosystem.settle`` × ``run.train_macs`` with a compute
        budget, else ⌈``ecosystem.settle`` × ``run.generations``⌉; ``None`` when
        ``ecosystem.settle`` is 0 (the paper: reproduction never stops).

        >>> from ecosim.config import EcosystemConfig, RunConfig
        >>> Settling.of(RunConfig(generations=10), EcosystemConfig(settle=0.5, settle_keep=4))
        Settling(macs=inf, generation=5, keep=4, rungs=1, end_macs=inf, end_generation=10, lr_decay=1.0)
        >>> Settling.of(RunConfig(train_macs=1e12), EcosystemConfig(settle=0.25)).macs
        250000000000.0
        """
        if ecosystem.settle <= 0:
            return None
        keep, rungs, decay = ecosystem.settle_keep, ecosystem.settle_rungs, ecosystem.settle_lr_decay
        if keep >= ecosystem.max_population:
            log.warning(
                "ecosystem.settle_keep = %d is not below ecosystem.max_population = %d: every network "
                "trains on after the settle point%s",
                keep,
                ecosystem.max_population,
                " until a halving (ecosystem.settle_rungs) cuts them" if rungs > 1 else "",
            )
        if rungs > 1 and keep >> (rungs - 1) == 0:
            log.warning(
                "ecosystem.settle_rungs = %d halves ecosystem.settle_keep = %d below 1 network: from part %d "
                "of %d on the fittest network alone trains",
                rungs,
                keep,
                keep.bit_length(),
                rungs,
            )
        if run.train_macs > 0:
            return cls(
                macs=ecosystem.settle * run.train_macs,
                keep=keep,
                rungs=rungs,
                end_macs=run.train_macs,
                end_generation=run.generations,
                lr_decay=decay,
            )
        point = math.ceil(ecosystem.settle * run.generations)
        if point >= run.generations:
            log.warning(
                "ecosystem.settle = %g of run.generations = %d is generation %d, after the last: the run never settles",
                ecosystem.settle,
                run.generations,
                point,
            )
        elif point == run.generations - 1 and (keep or decay != 1.0):
            log.warning(
                "ecosystem.settle = %g of run.generations = %d is generation %d, the last: no generation "
                "trains after it (ecosystem.settle_keep and settle_lr_decay act on none)",
                ecosystem.settle,
                run.generations,
                point,
            )
        elif rungs > 1 and rungs > run.generations - point - 1:  # the settle generation trains every network
            log.warning(
                "ecosystem.settle_rungs = %d parts of the %d generations after the settle generation: some parts "
                "get no generation of their own, so some halvings fall together and their networks never train",
                rungs,
                run.generations - point - 1,
            )
        return cls(generation=point, keep=keep, rungs=rungs, end_generation=run.generations, lr_decay=decay)

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

    def part_at(self, generation: int, train_macs_spent: float | None) -> int:
        """Which part (0, …, ``rungs`` − 1) of the rest of the run ``generation``, a generation past
        the point, falls in: equal shares of the compute after the point (``end_macs``; judged on
        ``train_macs_spent``, the compute spent before ``generation``) or of the generations
        (``end_generation``). 0 with one rung, when the spent compute is unknown (an older
        checkpoint), or when the run has no end past the point.

        >>> s = Settling(generation=4, keep=8, rungs=3, end_generation=10)
        >>> [s.part_at(g, None) for g in range(4, 10)]
        [0, 0, 1, 1, 2, 2]
        """
        if self.rungs <= 1:
            return 0
        if self.generation is not None:
            start, end, now = float(self.generation), float(self.end_generation or 0), float(generation)
        else:
            start, end, now = self.macs, self.end_macs, (self.macs if train_macs_spent is None else train_macs_spent)
        if not math.isfinite(end) or end <= start:
            return 0
        return min(self.rungs - 1, max(0, math.floor((now - start) * self.rungs / (end - start))))

    def keep_at(self, generation: int, train_macs_spent: float | None) -> int:
        """How many of the fittest networks train in ``generation``, a generation past the point.

        ``keep`` // 2^r (at least 1) in part r of the rest of the run (:meth:`part_at`); 0: every
        network. The culling at the end of generation g asks it for g + 1.

        >>> s = Settling(generation=4, keep=8, rungs=3, end_generation=10)
        >>> [s.keep_at(g, None) for g in range(4, 10)]
        [8, 8, 4, 4, 2, 2]
        >>> Settling(macs=100.0, keep=16, rungs=2, end_macs=300.0).keep_at(9, 250.0)
        8
        """
        if self.keep <= 0:
            return 0
        return max(1, self.keep >> self.part_at(generation, train_macs_spent))

    def lr_scale_at(self, generation: int, train_macs_spent: float | None) -> float:
        """The factor on the learning rate of a training in ``generation``, a generation after the
        settle generation: ``lr_decay``^(r+1) in part r (:meth:`part_at`), so the rate drops
        once after the settle generation and again with each halving.

        >>> s = Settling(generation=4, keep=8, rungs=2, end_generation=8, lr_decay=0.1)
        >>> [round(s.lr_scale_at(g, None), 6) for g in range(5, 8)]
        [0.1, 0.01, 0.01]
        """
        return self.lr_decay ** (self.part_at(generation, train_macs_spent) + 1)

    def unreached(self, generation: int, train_macs_spent: float | None) -> str:
        """What of the schedule a run that ends before ``generation`` never did, as a clause for the
        run's last line ("" when nothing is missing): the settle point itself, or the parts of the
        rest of the run (:meth:`part_at`) that never began.

        >>> Settling(macs=100.0, keep=16, rungs=3, end_macs=400.0).unreached(9, 250.0)
        '; the settle schedule ended in part 2 of 3 (part 3 never began)'
        >>> Settling(macs=100.0, keep=16, end_macs=400.0).unreached(9, 50.0)
        '; the run never reached its settle point (100 MACs)'
        """
        if not self.reached(generation, train_macs_spent):
            point = f"generation {self.generation}" if self.generation is not None else f"{self.macs:.3g} MACs"
            return f"; the run never reached its settle point ({point})"
        part = self.part_at(generation, train_macs_spent)
        if part >= self.rungs - 1:
            return ""
        left = f"part {self.rungs}" if part + 2 == self.rungs else f"parts {part + 2}–{self.rungs}"
        return f"; the settle schedule ended in part {part + 1} of {self.rungs} ({left} never began)"


def _at_rate(lr_scale: float) -> str:
    return "" if lr_scale == 1.0 else f" at {lr_scale:.3g}× the learning rate"


def announce(generation: int, keep: int, lr_scale: float = 1.0) -> None:
    """The ``info`` line of the settle point (shown by ``ecosim`` and the experiment runner): from
    the next generation on ``keep`` networks train (0: every one), at ``lr_scale`` × the rate."""
    who = {0: "every network trains on", 1: "the fittest network trains on"}.get(
        keep, f"the {keep} fittest networks train on"
    )
    log.info(
        "generation %d: settled (ecosystem.settle): no more offspring, %s from generation %d%s",
        generation,
        who,
        generation + 1,
        _at_rate(lr_scale),
    )


def announce_halving(generation: int, keep: int, lr_scale: float = 1.0) -> None:
    """The ``info`` line of a halving after the settle point (``ecosystem.settle_rungs``), at the end
    of ``generation``: ``keep`` networks train from the next one on, ``lr_scale`` × the learning rate."""
    who = "the fittest network trains" if keep == 1 else f"the {keep} fittest networks train"
    log.info(
        "generation %d: halved (ecosystem.settle_rungs): %s on from generation %d%s",
        generation,
        who,
        generation + 1,
        _at_rate(lr_scale),
    )


def announce_rate(generation: int, lr_scale: float) -> None:
    """The ``info`` line of a part after the settle point that lowers the learning rate without
    halving (``ecosystem.settle_lr_decay`` once the halving has reached one network)."""
    log.info(
        "generation %d: the learning rate drops (ecosystem.settle_lr_decay) to %.3g× from generation %d",
        generation,
        lr_scale,
        generation + 1,
    )


def keep_fittest(candidates: Sequence[CullCandidate], keep: int) -> list[CullCandidate]:
    """The candidates to cull so that only the ``keep`` fittest remain (all kept when ``keep`` is 0
    or at least their number).

    Fitness decides, the lower network id first on ties; a network never scored (``fitness``
    ``None``) ranks last. Offspring not yet trained (``offspring``; in asynchronous mode, another
    species' last offspring when a species steps past the settle point first) are neither culled
    nor counted: they train once, get their row in the networks log, and are judged then.

    >>> cands = [CullCandidate(i, 0, 1, 0.5, 0.5, fitness=f) for i, f in enumerate([0.9, 0.95, None, 0.9])]
    >>> [c.network_id for c in keep_fittest(cands, 2)]
    [2, 3]
    """
    trained = [c for c in candidates if not c.offspring]
    if keep <= 0 or len(trained) <= keep:
        return []
    ranked = sorted(
        trained, key=lambda c: (c.fitness is None, -(c.fitness if c.fitness is not None else 0.0), c.network_id)
    )
    return sorted(ranked[keep:], key=lambda c: c.network_id)


__all__ = ["Settling", "announce", "announce_halving", "announce_rate", "keep_fittest"]
