"""A run's progress through its settle schedule (``ecosystem.settle``, issue 17): :class:`SettleProgress`.

No Ray, no torch. :class:`~ecosim.evolution.settling.Settling` is the static schedule (where the
point lies, how many networks each part after it keeps, the learning rate of each part); this
module holds what a run has done with it so far, and the decisions that depend on that: whether
the point is reached and stays reached (``settled_from``), which halving was announced last
(``part_shown``), and the lowest learning rate any training got (``lowest_lr_scale``), which
never rises again. The state goes into the checkpoint with the policy's
(:func:`~ecosim.evolution.state.policy_to_json`).

:class:`~ecosim.evolution.ecosystem.EcosystemPolicy` owns one and delegates its settle decisions
to it (``settled``, ``waits_for``, ``learning_rate_scale``, the settle part of ``cull`` and of
``short_of_budget``), passing what it knows of the run as plain arguments: the last generation
written and the training compute spent or logged. This module never imports the policy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ecosim.evolution.records import CullCandidate
from ecosim.evolution.settling import Settling, announce, announce_halving, announce_rate, keep_fittest


class SettleProgress:
    """Where a run stands in its settle schedule, and the settle decisions (issue 17, ``ecosystem.settle``).

    Compute is in training multiply-accumulates (the generations log's ``train_macs``); ``None``
    means unknown (an older checkpoint). The methods log through
    :mod:`~ecosim.evolution.settling`'s logger (the settle point, each halving, each lower rate:
    one ``info`` line each).

    Args:
        settling: the schedule (:meth:`Settling.of <ecosim.evolution.settling.Settling.of>`);
            ``None``: the run never settles (the paper), and every decision here is "no".

    Attributes:
        settled_from: the first generation without offspring once the settle point was reached
            (``None`` before); kept in the state, so a settled run stays settled when a resume
            extends it.
        part_shown: the last part after the settle point announced (one line each).
        lowest_lr_scale: the lowest factor on the learning rate any training got; the rate never
            rises again (``ecosystem.settle_lr_decay``; a resume that extends the run moves the
            parts later).

    >>> p = SettleProgress(Settling(generation=3, keep=2))
    >>> p.settled(3, completed_generation=1, train_macs_spent=0.0, spent_through=0.0)  # 2 not written
    False
    >>> p.settled(3, completed_generation=2, train_macs_spent=0.0, spent_through=0.0), p.settled_from
    (True, 3)
    """

    def __init__(self, settling: Settling | None) -> None:
        self.settling = settling
        self.settled_from: int | None = None
        self.part_shown = 0
        self.lowest_lr_scale = 1.0

    # ---- the settle point -------------------------------------------------------------------------
    def settled(
        self, generation: int, completed_generation: int, train_macs_spent: float | None, spent_through: float | None
    ) -> bool:
        """Whether ``generation`` is past the settle point: no offspring, and only the
        ``settle_keep`` fittest networks are kept (issue 17, ``EcosystemPolicy.settled``).

        The point is judged on the generations written (every generation before ``generation``
        complete, so in asynchronous mode a species that runs ahead does not settle the ecosystem
        before the others reach it); once reached it holds for every later generation
        (:attr:`settled_from`). The first time, it logs the settle line, naming what
        ``generation + 1`` trains.

        Args:
            generation: the generation whose reproduction or culling step asks.
            completed_generation: the last generation written (−1 before).
            train_macs_spent: training compute of the generations written (MACs; ``None``: unknown).
            spent_through: the same plus ``generation``'s steps so far (MACs): the settle
                generation's compute can reach a later part.
        """
        if self.settled_from is not None and generation >= self.settled_from:
            return True
        s = self.settling
        if s is None or completed_generation < generation - 1 or not s.reached(generation, train_macs_spent):
            return False
        self.settled_from = generation
        self.part_shown = s.part_at(generation + 1, spent_through)
        announce(generation, s.keep_at(generation + 1, spent_through), s.lr_scale_at(generation + 1, spent_through))
        return True

    def no_offspring(
        self, generation: int, completed_generation: int, train_macs_spent: float | None, spent_through: float | None
    ) -> bool:
        """Whether ``generation`` makes no offspring (issue 17, ``EcosystemPolicy.allocate``).

        :meth:`settled` (always asked, so the settle line comes when the point is reached), or at
        or past a settle point that is a generation: that is known in advance, so a species that
        runs ahead of it in asynchronous mode makes none either. Arguments as :meth:`settled`.
        """
        settled = self.settled(generation, completed_generation, train_macs_spent, spent_through)
        point = self.settling.generation if self.settling is not None else None
        return settled or (point is not None and generation >= point)

    def waits_for(
        self,
        generation: int,
        completed_generation: int,
        train_macs_logged: float | None,
        per_generation: float | None = None,
    ) -> bool:
        """Asynchronous mode: whether a species must wait before it trains ``generation`` until
        ``generation − 1`` is complete (issue 17, ``EcosystemPolicy.waits_for``).

        True from the settle point on: once ``generation`` is the settle generation or later
        (:attr:`settled_from`, or the point reached on the compute logged so far), the networks
        that train are the fittest of the whole generation before (:meth:`surplus`), and the
        learning rate and the halving are judged on its complete compute. Before that species
        run ahead freely (the paper's asynchronous evolution).

        Args:
            generation: the generation the species would train next.
            completed_generation: the last generation written (−1 before).
            train_macs_logged: training compute of every network logged so far, open generations
                included (MACs; ``None``: unknown).
            per_generation: training compute of one generation, as the last written one spent
                (MACs; ``None``: unknown). A compute point is known only from complete generations;
                near it (the compute logged plus this much for each open generation before
                ``generation`` reaches the point) a species does not run ahead either, so it makes
                no offspring in a generation the point may land on (nearly always exact: a
                generation may spend more than the last one did).
        """
        s = self.settling
        if s is None or completed_generation >= generation - 1:
            return False
        if (self.settled_from is not None and generation > self.settled_from) or s.reached(
            generation, train_macs_logged
        ):
            return True
        if s.generation is not None or train_macs_logged is None or not per_generation:
            return False
        return train_macs_logged + per_generation * (generation - 1 - completed_generation) >= s.macs

    # ---- after the settle point ---------------------------------------------------------------------
    def learning_rate_scale(self, generation: int, train_macs_logged: float | None) -> float:
        """The factor on ``training.learning_rate`` for the trainings of ``generation`` (issue 17,
        ``ecosystem.settle_lr_decay``, ``EcosystemPolicy.learning_rate_scale``).

        1.0 up to and including the settle generation (it still trains every network at the full
        rate) and without a decay; after it
        :meth:`~ecosim.evolution.settling.Settling.lr_scale_at`, judged on ``train_macs_logged``
        (MACs of every network logged so far), but never above the lowest given before
        (:attr:`lowest_lr_scale`, lowered here).
        """
        s = self.settling
        if s is None or s.lr_decay == 1.0 or self.settled_from is None or generation <= self.settled_from:
            return 1.0
        self.lowest_lr_scale = min(self.lowest_lr_scale, s.lr_scale_at(generation, train_macs_logged))
        return self.lowest_lr_scale

    @property
    def keeps_fittest(self) -> bool:
        """Whether the settle point culls to the fittest (``ecosystem.settle_keep`` > 0): only then
        does ``EcosystemPolicy.cull`` ask :meth:`settled` and :meth:`surplus`."""
        return self.settling is not None and self.settling.keep != 0

    def surplus(
        self,
        generation: int,
        candidates: Sequence[CullCandidate],
        stepped: Collection[int] | None,
        spent_through: float | None,
        spent_before: float | None = None,
        complete: bool = True,
    ) -> list[CullCandidate]:
        """The networks to cull at the end of ``generation``, a settled one, so that only the fittest
        train in ``generation + 1`` (issue 17, ``ecosystem.settle_keep`` and ``settle_rungs``, the
        settle part of ``EcosystemPolicy.cull``).

        ``keep_at(generation + 1)`` of :class:`~ecosim.evolution.settling.Settling` are kept, by
        :func:`~ecosim.evolution.settling.keep_fittest`; a new part after the settle point gets
        its ``info`` line (a halving, or a lower learning rate alone). After the run's last
        generation (``run.generations``, or the compute budget spent) the part ``generation``
        trained in keeps its networks: a part that never begins halves nothing, so the logged
        final population is the last part's (all the kept ones when the settle point is the last
        generation).

        Args:
            generation: the settled generation whose culling step this is.
            candidates: the networks that may be culled (in id order, as the policy gives them).
            stepped: asynchronous mode: the species that trained in ``generation``; only their
                networks compete, the others' once their species has, so after the last step the
                kept networks are the fittest of the whole generation. ``None``: every species
                (synchronous mode).
            spent_through: training compute of the generations written and of ``generation``'s
                steps so far (MACs; ``None``: unknown).
            spent_before: training compute of the generations written before ``generation``
                (MACs; ``None``: unknown), which placed ``generation`` in its part.
            complete: whether every species has trained in ``generation`` (always in synchronous
                mode). An earlier asynchronous step keeps the current part's networks: the next
                part, and whether the run ends, are judged on the whole generation's compute at its
                last step (no species trains ``generation + 1`` before then, :meth:`waits_for`).

        Returns:
            the candidates to cull, in id order (none when ``settle_keep`` is 0), untrained
            offspring born at or after the settle generation included (asynchronous mode: made by
            a species that ran ahead before the point was known).
        """
        s = self.settling
        if s is None or s.keep <= 0:
            return []
        competing = [c for c in candidates if stepped is None or c.species_id in stepped]
        # asynchronous mode with a compute point: a species that ran ahead into the settle generation
        # made offspring before the point was known; none may train past it
        point = generation if self.settled_from is None else self.settled_from
        late = [c for c in competing if c.offspring and c.born_generation >= point]
        if not complete or self._run_ends_after(generation, spent_through):  # this part's keep holds
            keep = s.keep_at(generation, spent_before)
        else:
            keep = s.keep_at(generation + 1, spent_through)  # who trains in the next generation
            self._announce_part(generation, spent_through, keep)
        return sorted([*keep_fittest(competing, keep), *late], key=lambda c: c.network_id)

    def _run_ends_after(self, generation: int, spent_through: float | None) -> bool:
        """Whether ``generation`` is the run's last: ``run.generations`` ends it, or the compute spent
        through it reaches ``run.train_macs`` (the coordinator stops after the first generation at
        or past the budget)."""
        s = self.settling
        if s is None:
            return False
        capped = s.end_generation is not None and generation + 1 >= s.end_generation
        return capped or (spent_through is not None and spent_through >= s.end_macs)

    def _announce_part(self, generation: int, spent: float | None, keep: int) -> None:
        """One ``info`` line when generation + 1 starts a new part after the settle point: a halving
        (``settle_rungs``), or a lower learning rate alone (``settle_lr_decay``, once the halving
        has reached one network). :meth:`surplus` asks only while the run goes on."""
        s = self.settling
        part = s.part_at(generation + 1, spent) if s is not None else 0
        if s is None or part <= self.part_shown:
            return
        before = s.keep >> self.part_shown
        self.part_shown = part
        lr = min(self.lowest_lr_scale, s.lr_scale_at(generation + 1, spent))  # 1.0 without a decay
        if keep < before:
            announce_halving(generation, keep, lr)
        elif lr < 1.0:
            announce_rate(generation, lr)

    # ---- the run's end ------------------------------------------------------------------------------
    def short_of_budget(self, completed_generation: int, train_macs_spent: float | None) -> str:
        """The settle clause of the line for a run that ``run.generations`` ended before its compute
        budget was spent (issue 17, ``EcosystemPolicy.short_of_budget``).

        Args:
            completed_generation: the run's last generation written.
            train_macs_spent: training compute of the generations written (MACs; ``None``: unknown).

        Returns:
            "" without settling; that the run settled in its last generation (so no network
            trained after the point); else what of the schedule never happened
            (:meth:`~ecosim.evolution.settling.Settling.unreached`, "" when nothing).
        """
        if self.settling is None:
            return ""
        if self.settled_from is not None and self.settled_from >= completed_generation:
            return f"; it settled in its last generation ({self.settled_from}): no network trained after the point"
        return self.settling.unreached(completed_generation + 1, train_macs_spent)

    # ---- state ----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """``{"settled_from", "lowest_lr_scale", "part_shown"}``, JSON-ready: the settle keys of the
        checkpoint's ``coordinator`` entry (issue 17, :func:`~ecosim.evolution.state.policy_to_json`)."""
        return {
            "settled_from": self.settled_from,
            "lowest_lr_scale": self.lowest_lr_scale,
            "part_shown": self.part_shown,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`to_json`, from the checkpoint's ``coordinator`` entry (issue 17,
        :func:`~ecosim.evolution.state.restore_policy`); keys absent from older states default
        (``settled_from`` before 0.9, ``lowest_lr_scale`` before 0.9.4, ``part_shown``).

        Raises:
            ValueError, TypeError: a value that is not a number.
        """
        settled = state.get("settled_from")
        self.settled_from = None if settled is None else int(settled)
        self.lowest_lr_scale = float(state.get("lowest_lr_scale", 1.0))
        self.part_shown = int(state.get("part_shown", 0))


__all__ = ["SettleProgress"]
