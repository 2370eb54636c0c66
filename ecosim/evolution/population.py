"""A species' population and its decisions: calibration, reproduction, culling candidates (no Ray).

Paper §III-A to §III-G. The Ray actor in :mod:`ecosim.engine.species` is a thin wrapper around
:class:`Population`; everything here is plain Python + numpy, so it is tested without Ray.
Ecosystem-wide decisions (offspring quotas, the species limit, culling, the champion) belong to
:class:`ecosim.evolution.ecosystem.EcosystemPolicy`.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecosim.errors import EcosimError
from ecosim.evolution.calibration import relative_complexity, relative_fitness
from ecosim.evolution.records import (
    CullCandidate,
    FailReason,
    NetworkRecord,
    Offspring,
    Origin,
    SpeciesKey,
    SpeciesState,
    Status,
)
from ecosim.evolution.selection import select_parents
from ecosim.genome import (
    Genome,
    MutationParams,
    Weights,
    crossover,
    multiply_accumulates,
    mutate,
    similarity,
)
from ecosim.rng import derive_rng

log = logging.getLogger(__name__)

#: characters of a traceback kept in a record's ``message``
MESSAGE_LIMIT = 4000


@dataclass
class ReproductionPolicy:
    """Reproduction settings (paper §III-D, §III-F) and what relative complexity measures (§III-G).

    ``complexity``: ``"parameters"`` or ``"macs"`` (forward multiply-accumulates per image), the
    quantity eq. 9's ``c_r`` is computed from (``ecosystem.complexity``); ``complexity_favours``:
    ``"smaller"`` or ``"larger"``, which network eq. 9 culls less (``ecosystem.complexity_favours``).
    """

    speciation: bool = True
    crossover_rate: float = 0.5
    mutation: MutationParams = field(default_factory=MutationParams)
    complexity: str = "parameters"
    complexity_favours: str = "smaller"


@dataclass
class _Attempt:
    """What an offspring was becoming, for its error record should its creation raise."""

    origin: Origin = Origin.MUTATION
    parents: tuple[NetworkRecord, ...] = ()


class Population:
    """The networks of one species and the decisions the species owns.

    Args:
        species_id: the species' id.
        key: its species key (``None`` without speciation: one species holds everything).
        seed: the run seed.
        reproduction: reproduction settings.
    """

    def __init__(self, species_id: int, key: SpeciesKey | None, seed: int, reproduction: ReproductionPolicy) -> None:
        self.species_id = species_id
        self.key = key
        self.seed = seed
        self.reproduction = reproduction
        self.networks: dict[int, NetworkRecord] = {}
        self.generation = -1  # last generation trained

    # ---- membership -------------------------------------------------------------------------
    def add(self, records: Sequence[NetworkRecord]) -> None:
        """Adopt networks (initial ones, offspring, migrants)."""
        for r in records:
            self.networks[r.id] = dataclasses.replace(r, species_id=self.species_id)

    def remove(self, ids: Sequence[int]) -> list[int]:
        """Remove networks by id; returns the ids actually removed."""
        return [i for i in ids if self.networks.pop(i, None) is not None]

    def __len__(self) -> int:
        return len(self.networks)

    def sorted(self) -> list[NetworkRecord]:
        """Networks in id order (every decision iterates in this order)."""
        return [self.networks[i] for i in sorted(self.networks)]

    # ---- training results and calibration ---------------------------------------------------
    def apply(self, updates: Mapping[int, Mapping[str, Any]]) -> None:
        """Apply per-network field updates (training results); unknown ids are ignored."""
        for i, upd in updates.items():
            if i in self.networks:
                self.networks[i] = dataclasses.replace(self.networks[i], **upd)

    def calibrate(self) -> None:
        """Relative fitness and complexity within the species (eq. 2; see calibration module)."""
        recs = self.sorted()
        if not recs:
            return
        fr = relative_fitness([r.fitness if r.fitness is not None else 0.0 for r in recs])
        sizes = [
            multiply_accumulates(r.genome) if self.reproduction.complexity == "macs" else r.parameters for r in recs
        ]
        cr = relative_complexity(sizes, self.reproduction.complexity_favours)
        for r, f, c in zip(recs, fr, cr):
            self.networks[r.id] = dataclasses.replace(r, relative_fitness=float(f), relative_complexity=float(c))

    def champion(self) -> NetworkRecord | None:
        """Fittest trained network (lowest id on ties), or ``None``."""
        trained = [r for r in self.sorted() if r.fitness is not None]
        return max(trained, key=lambda r: (r.fitness, -r.id)) if trained else None

    def parents(self) -> list[NetworkRecord]:
        """Networks that may reproduce: trained ones without an error, else any without an error.

        A species whose every network failed with :attr:`Status.ERROR` has none: it cannot
        reproduce (its offspring quota goes to other species, see
        :meth:`EcosystemPolicy.allocate <ecosim.evolution.ecosystem.EcosystemPolicy.allocate>`).
        """
        recs = [r for r in self.sorted() if r.fitness is not None and r.status != Status.ERROR]
        return recs or [r for r in self.sorted() if r.status != Status.ERROR]

    def can_reproduce(self) -> bool:
        """``True`` when :meth:`parents` is not empty."""
        return any(r.status != Status.ERROR for r in self.networks.values())

    # ---- reproduction -----------------------------------------------------------------------
    def reproduce(self, generation: int, ids: Sequence[int]) -> list[Offspring]:
        """Create one offspring per id in ``ids`` (§III-D, §III-F).

        Parents are drawn from :meth:`parents` by relative fitness. With probability
        ``crossover_rate`` (and at least two parents) an offspring comes from crossover: within
        the species with speciation; without speciation the pair mates with probability eq. 7
        and otherwise the first parent is mutated. A mutation is drawn by eqs. 3–6; one that
        would break a constraint fails (``failed`` holds its kind) and the offspring is a clone.
        With ``mutation.cap_crossover`` a crossover offspring over the cost cap and costlier than
        both parents is discarded and the first parent mutated instead (issue 17).

        Where an offspring goes is not decided here: one whose key leaves the species carries
        the clone of its parent as ``fallback``, which the ecosystem uses instead when the
        species limit leaves no room (:meth:`EcosystemPolicy.place
        <ecosim.evolution.ecosystem.EcosystemPolicy.place>`). Every decision draws from streams
        of (seed, generation, offspring id), so the result does not depend on other species.

        An offspring whose creation raises is not dropped: it becomes an :attr:`Status.ERROR`
        record (traceback in ``message``, ``failed = (FailReason.REPRODUCTION,)``).

        Args:
            generation: the generation whose reproduction step this is (≥ 0).
            ids: fresh network ids, one per offspring.

        Returns:
            the offspring, in ``ids`` order, one per id.

        Raises:
            EcosimError: ``ids`` is not empty but the species has no network that can be a
                parent (the ecosystem policy never asks this).
        """
        if not ids:
            return []
        recs = self.parents()
        if not recs:
            raise EcosimError(
                f"species {self.species_id} cannot reproduce: every network failed with status 'error' "
                f"({len(ids)} offspring asked)"
            )
        rel = [r.relative_fitness for r in recs]
        out: list[Offspring] = []
        for oid in ids:
            attempt = _Attempt(parents=(recs[0],))
            try:
                out.append(self._offspring(generation, oid, recs, rel, attempt))
            except Exception as exc:  # a failed offspring is data (STYLE 7), counted and logged
                log.warning("species %d: offspring %d failed: %s", self.species_id, oid, exc)
                out.append(self._failed(oid, generation, attempt, exc))
        return out

    def _offspring(
        self, generation: int, oid: int, recs: list[NetworkRecord], rel: list[float], attempt: _Attempt
    ) -> Offspring:
        """One offspring (see :meth:`reproduce`)."""
        rng_sel = derive_rng(self.seed, generation, oid, "selection")
        parents = [recs[i] for i in select_parents(rng_sel, rel, k=2)]
        attempt.parents = tuple(parents)
        failed: list[FailReason] = []
        child = None
        redraws = 0
        if len(parents) == 2 and rng_sel.random() < self.reproduction.crossover_rate:
            a, b = parents
            mate = True if self.reproduction.speciation else rng_sel.random() < similarity(a.genome, b.genome)
            if mate:
                attempt.origin = Origin.CROSSOVER
                rng = derive_rng(self.seed, generation, oid, "crossover")
                g, w = crossover(
                    a.genome,
                    a.weights,
                    a.relative_fitness,
                    b.genome,
                    b.weights,
                    b.relative_fitness,
                    rng,
                    self.reproduction.mutation,
                )
                if self._over_cap(g, (a.genome, b.genome), generation):
                    redraws = 1  # discarded like a mutation draw; the first parent is mutated instead
                else:
                    child = self._child(oid, generation, g, w, (a.id, b.id), Origin.CROSSOVER, None)
        if child is None:
            p = parents[0]
            attempt.origin, attempt.parents = Origin.MUTATION, (p,)
            rng = derive_rng(self.seed, generation, oid, "mutation")
            res = mutate(p.genome, p.weights, rng, self.reproduction.mutation, generation=generation)
            redraws += res.cap_redraws
            if not res.ok:
                failed.append(FailReason.COST_CAP if res.over_cap else FailReason.constraint(res.kind))
                child = self._clone(oid, generation, p)
            else:
                assert res.genome is not None and res.weights is not None
                child = self._child(oid, generation, res.genome, res.weights, (p.id,), Origin.MUTATION, res.kind.value)
        key = child.genome.species_key if self.reproduction.speciation else None
        fallback = None
        if key != self.key:  # it leaves the species: the clone stands by for the species limit
            fallback = self._clone(oid, generation, attempt.parents[0])
        return Offspring(child, key, tuple(failed), fallback, redraws)

    def _over_cap(self, child: Genome, parents: Sequence[Genome], generation: int) -> bool:
        """``True``: with ``mutation.cap_crossover``, ``child`` costs more than the cap and every parent."""
        params = self.reproduction.mutation
        if not params.cap_crossover:
            return False
        cost = multiply_accumulates(child)
        return cost > params.cap(generation) and cost > max(multiply_accumulates(p) for p in parents)

    def _child(
        self,
        oid: int,
        generation: int,
        g: Genome,
        w: Weights,
        parents: Sequence[int],
        origin: Origin,
        mutation: str | None,
        **extra: Any,
    ) -> NetworkRecord:
        return NetworkRecord(
            id=oid,
            species_id=self.species_id,
            genome=g,
            weights=w,
            born_generation=generation,
            parent_ids=tuple(parents),
            origin=origin,
            mutation=mutation,
            **extra,
        )

    def _clone(self, oid: int, generation: int, parent: NetworkRecord) -> NetworkRecord:
        return self._child(oid, generation, parent.genome, parent.weights.copy(), (parent.id,), Origin.CLONE, None)

    def _failed(self, oid: int, generation: int, attempt: _Attempt, exc: BaseException) -> Offspring:
        """The :attr:`Status.ERROR` record of an offspring whose creation raised."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
        p = attempt.parents[0]
        rec = self._child(
            oid,
            generation,
            p.genome,
            p.weights,
            tuple(q.id for q in attempt.parents),
            attempt.origin,
            None,
            status=Status.ERROR,
            message=f"{type(exc).__name__}: {exc}\n{tb}"[:MESSAGE_LIMIT],
        )
        return Offspring(rec, self.key, (FailReason.REPRODUCTION,))

    # ---- culling ---------------------------------------------------------------------------
    def cull_candidates(self, generation: int) -> list[CullCandidate]:
        """Eq. 9 inputs of every network, in id order, with the facts protection depends on (§III-G).

        ``offspring``: untrained, or born in ``generation`` or later; ``champion``: the species'
        fittest trained network. Which of them are protected is the ecosystem's decision
        (:meth:`EcosystemPolicy.cull <ecosim.evolution.ecosystem.EcosystemPolicy.cull>`).
        """
        champ = self.champion()
        return [
            CullCandidate(
                network_id=r.id,
                species_id=self.species_id,
                age=r.age,
                relative_fitness=r.relative_fitness,
                relative_complexity=r.relative_complexity,
                offspring=r.fitness is None or r.born_generation >= generation,
                champion=champ is not None and r.id == champ.id,
                born_generation=r.born_generation,
                mutation=r.mutation,
                fitness=r.fitness,
            )
            for r in self.sorted()
        ]

    # ---- state ------------------------------------------------------------------------------
    def snapshot(self) -> SpeciesState:
        """The species' full state (records are immutable, so this is a cheap shallow copy)."""
        return SpeciesState(self.species_id, self.key, self.generation, dict(self.networks))

    def restore(self, state: SpeciesState) -> None:
        """Inverse of :meth:`snapshot` (the id and key are taken over too)."""
        self.species_id, self.key = state.species_id, state.key
        self.generation = int(state.generation)
        self.networks = dict(state.networks)


__all__ = ["MESSAGE_LIMIT", "Population", "ReproductionPolicy"]
