"""The ecosystem's decisions, free of Ray and torch: :class:`EcosystemPolicy` (paper §III-A to §III-G).

The coordinator (:mod:`ecosim.engine.coordinator`) fans work out to the species actors, awaits
it and asks this policy what to do next; the policy holds the ecosystem's state (the species
registry, id counters, the champion, per-generation tallies) and takes every ecosystem-wide
decision:

* the initial species (§III-A, :func:`~ecosim.evolution.initial.initial_networks`);
* how many offspring each species makes (:meth:`EcosystemPolicy.allocate`, one rule for the
  synchronous and the asynchronous mode, see ``docs/design.md``);
* where offspring that left their species go, under the species limit (:meth:`EcosystemPolicy.place`;
  the limit is decided in :meth:`EcosystemPolicy.free_species_slots` and nowhere else);
* ecosystem culling (eq. 9, :meth:`EcosystemPolicy.cull`; offspring and champions protected);
* the champion, the best network ever trained (:meth:`EcosystemPolicy.champion_candidate`);
* the generation row of the logs, from the records the species reported
  (:func:`~ecosim.evolution.generation_rows.summarise_generation`, :meth:`EcosystemPolicy.generation_row`).

Its helpers live beside it, one concept each: :mod:`~ecosim.evolution.initial` (§III-A),
:mod:`~ecosim.evolution.allocation` (largest remainder), :mod:`~ecosim.evolution.generation_rows`
(log rows), :mod:`~ecosim.evolution.state` (the JSON state classes) and
:mod:`~ecosim.evolution.settle_progress` (the run's progress through ``ecosystem.settle``: the
settle decisions of :meth:`~EcosystemPolicy.settled`, :meth:`~EcosystemPolicy.waits_for`,
:meth:`~EcosystemPolicy.learning_rate_scale`, :meth:`~EcosystemPolicy.cull` are made there).

Its state round-trips through JSON (:meth:`EcosystemPolicy.to_json` / :meth:`EcosystemPolicy.from_json`,
written in :mod:`~ecosim.evolution.state`), tallies of generations in progress included, so a
checkpoint restores it without reading logs.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ecosim.errors import EcosimError
from ecosim.evolution.allocation import largest_remainder
from ecosim.evolution.calibration import logistic_zscore
from ecosim.evolution.culling import cull as cull_eq9
from ecosim.evolution.culling import protect_new_structure
from ecosim.evolution.generation_rows import failed_offspring_row, summarise_generation, train_macs_of
from ecosim.evolution.initial import initial_networks
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
from ecosim.evolution.settle_progress import SettleProgress
from ecosim.evolution.settling import Settling
from ecosim.evolution.state import Champion, GenerationTally, Placement, Species, policy_to_json, restore_policy
from ecosim.genome import MutationParams
from ecosim.rng import SPECIES_STREAM_BASE, derive_rng

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the policy reads the section's fields; it does not depend on the config module
    from ecosim.config import EcosystemConfig


# ---- the policy ------------------------------------------------------------------------------------
class EcosystemPolicy:
    """Ecosystem-wide decisions and state, without Ray or torch (paper §III-A to §III-G).

    Args:
        ecosystem: the ``[ecosystem]`` section: ``population``, ``species``, ``max_species``,
            ``max_population``, ``offspring``, ``speciation``.
        seed: the run seed (≥ 0).
        mutation: the ``[mutation]`` section (initial species only).
        settling: where reproduction stops (``ecosystem.settle``, :class:`~ecosim.evolution.settling.Settling`;
            ``None``: never, the paper).

    Attributes:
        settle_progress: the run's progress through ``settling`` and its settle decisions
            (:class:`~ecosim.evolution.settle_progress.SettleProgress`).
        species: ``{species id: Species}`` of the living species.
        next_network_id, next_species_id: the id counters.
        champion: the best network ever trained.
        completed_generation: the last generation whose row was written (−1 before).
        train_macs_spent: training multiply-accumulates of the generations written so far (the
            sum of their rows' ``train_macs``; what ``run.train_macs`` budgets), or ``None`` when
            restored from an older checkpoint, which did not keep it.
        tallies: ``{generation: GenerationTally}`` of the generations in progress.

    >>> from ecosim.config import EcosystemConfig
    >>> policy = EcosystemPolicy(EcosystemConfig(max_species=2), seed=0)
    >>> policy.found_species(((1,), ()), first_generation=0), policy.free_species_slots()
    (0, 1)
    """

    def __init__(
        self,
        ecosystem: EcosystemConfig,
        seed: int,
        mutation: MutationParams | None = None,
        settling: Settling | None = None,
    ) -> None:
        self.ecosystem = ecosystem
        self.seed = int(seed)
        self.mutation = mutation or MutationParams()
        self.settle_progress = SettleProgress(settling)
        self.species: dict[int, Species] = {}
        self.next_network_id = 0
        self.next_species_id = 0
        self.champion = Champion()
        self.best_fitness_logged: float | None = None  # best_fitness_so_far of the last row written
        self.last_generation_macs: float | None = None  # training compute of the last row written (not kept)
        self.completed_generation = -1
        self.train_macs_spent: float | None = 0.0
        self.tallies: dict[int, GenerationTally] = {}

    @property
    def settling(self) -> Settling | None:
        """The settle schedule (``ecosystem.settle``; ``None``: never), as :attr:`settle_progress` holds it."""
        return self.settle_progress.settling

    # ---- ids and the species registry ------------------------------------------------------
    def take_ids(self, n: int) -> list[int]:
        """``n`` fresh network ids (consecutive, increasing through the run)."""
        ids = list(range(self.next_network_id, self.next_network_id + max(0, n)))
        self.next_network_id += len(ids)
        return ids

    def free_species_slots(self) -> int:
        """Species that may still be founded: the species limit, decided here and nowhere else.

        ``ecosystem.max_species`` minus the living species with speciation; 0 without (one
        species holds every network).
        """
        if not self.ecosystem.speciation:
            return 0
        return max(0, self.ecosystem.max_species - len(self.species))

    def species_with_key(self, key: SpeciesKey | None) -> int | None:
        """The living species with this key, or ``None``."""
        for sid in sorted(self.species):
            if self.species[sid].key == key:
                return sid
        return None

    def found_species(self, key: SpeciesKey | None, first_generation: int) -> int:
        """Register a new species; returns its id.

        Raises:
            EcosimError: no free species slot (with speciation, after the initial species).
        """
        if self.ecosystem.speciation and self.species and self.free_species_slots() <= 0:
            raise EcosimError(f"cannot found a species beyond ecosystem.max_species = {self.ecosystem.max_species}")
        sid = self.next_species_id
        self.next_species_id += 1
        self.species[sid] = Species(sid, key, first_generation, first_generation - 1)
        return sid

    def retire_species(self, species_id: int) -> None:
        """Forget a species that lost its last network."""
        self.species.pop(species_id, None)

    # ---- §III-A ------------------------------------------------------------------------------
    def initial_species(self, input_shape: tuple[int, int, int], classes: int) -> list[tuple[int, list[NetworkRecord]]]:
        """Found the initial species and create their networks (paper §III-A, :func:`initial_networks`).

        Returns:
            ``[(species id, records)]``; the records still carry the placeholder ``species_id``
            that adoption by the species replaces.
        """
        groups = initial_networks(input_shape, classes, self.ecosystem, self.mutation, self.seed, self.next_network_id)
        out = []
        for key, recs in groups:
            self.take_ids(len(recs))
            out.append((self.found_species(key, 0), recs))
        return out

    # ---- per-generation bookkeeping ------------------------------------------------------------
    def exclude_pause(self, seconds: float) -> None:
        """Start every open generation's clock ``seconds`` later: the time a stopped run was not
        running (between its checkpoint and its resume), so that ``wall_time_s`` counts running
        time only (asynchronous mode keeps generations open across a checkpoint).

        Raises:
            ValueError: ``seconds`` < 0.
        """
        if seconds < 0:
            raise ValueError(f"a pause lasts 0 s or more, got {seconds!r}")
        for t in self.tallies.values():
            t.started += seconds

    def tally(self, generation: int, now: float | None = None) -> GenerationTally:
        """The tally of ``generation``, opened (with ``started = now``) on first use."""
        t = self.tallies.get(generation)
        if t is None:
            t = self.tallies[generation] = GenerationTally(started=0.0 if now is None else float(now))
        return t

    def record_training(
        self,
        generation: int,
        species_id: int,
        rows: Sequence[Mapping[str, Any]],
        can_reproduce: bool,
        task_time_s: float = 0.0,
    ) -> None:
        """Take note of a species' training results for ``generation`` (§III-B, §III-C).

        Its allocation weight becomes the mean fitness of ``rows`` whose status is not
        ``error`` (an error is no measurement; without any, the previous weight stays); its
        best fitness and the generation it last rose are kept for stagnation (:meth:`stagnant`).

        Args:
            rows: the networks-log rows of its networks trained in ``generation`` (their training
                compute is added to the tally's ``trained_macs``).
            can_reproduce: whether it has a network that can be a parent.
            task_time_s: compute time inside its training tasks (s).
        """
        self.tally(generation).task_time_s += float(task_time_s)
        self.tally(generation).trained_macs += train_macs_of(rows)
        sp = self.species.get(species_id)
        if sp is None:
            return
        measured = [r["fitness"] for r in rows if r.get("status") != Status.ERROR and r.get("fitness") is not None]
        if measured:
            sp.weight = float(np.mean(measured))
            best = float(np.max(measured))
            if sp.best_fitness is None or best > sp.best_fitness:
                sp.best_fitness, sp.improved_generation = best, generation
        sp.can_reproduce = bool(can_reproduce)

    def stagnant(self, generation: int) -> set[int]:
        """Species that go extinct in ``generation`` (``ecosystem.species_stagnation`` = N > 0).

        A species is stagnant when its best fitness has not risen for N generations
        (``generation − improved_generation ≥ N``), as in NEAT's species stagnation. The species
        holding the highest best fitness never is, so at least one species lives on. Without
        speciation, or with N = 0 (default, the paper: species never die), none is.
        """
        n = self.ecosystem.species_stagnation
        if n <= 0 or not self.ecosystem.speciation:
            return set()
        measured = {s: sp for s, sp in self.species.items() if sp.best_fitness is not None}
        if len(measured) <= 1:
            return set()
        top = max(measured, key=lambda s: (measured[s].best_fitness, -s))
        return {
            s
            for s, sp in measured.items()
            if s != top and sp.improved_generation is not None and generation - sp.improved_generation >= n
        }

    # ---- offspring allocation (one rule for both modes) ----------------------------------------
    def allocate(self, generation: int, stepping: Collection[int]) -> dict[int, int]:
        """Offspring quotas of the species whose turn it is in ``generation`` (§III-D, §III-F).

        One rule for both modes. The offspring of the generation not yet given out
        (``ecosystem.offspring`` minus those already allotted) are split by largest remainder
        (:func:`largest_remainder`) over the species *still waiting for their turn* in this
        generation, in proportion to their allocation weight (``ecosystem.species_allocation``:
        eq. 2 across the species' mean fitness in their latest evaluation, or that mean itself;
        a species never measured counts as the mean of the known means);
        each species of ``stepping`` gets its part. In synchronous mode every species steps at
        once, so this is one split of the whole quota by this generation's mean fitness; in
        asynchronous mode each species takes its part when it steps, the last one takes what is
        left, so a generation's quotas also sum exactly to ``ecosystem.offspring``. Species size
        plays no part: a species of one gets offspring too.

        A species that cannot reproduce (every network failed with an error, so no parent is
        left, or it is stagnant and goes extinct in this step, :meth:`stagnant`) gets 0: its own part (its share of the
        offspring not already given up by others)
        goes to the species that can, and what they receive beyond their own part is counted in
        ``quota_reallocated`` (issue 7). In asynchronous mode the species yet to step take it;
        when the last species to step cannot reproduce, what is left goes to the species that
        already stepped in this generation and can (by weight). Only when no species of the
        generation can reproduce are offspring lost (a warning says how many).

        From the settle point on the generation's offspring are 0 (:meth:`SettleProgress.no_offspring
        <ecosim.evolution.settle_progress.SettleProgress.no_offspring>`).

        Args:
            generation: the generation whose reproduction step this is.
            stepping: ids of living species that finished training ``generation`` and have not
                had their turn yet.

        Returns:
            ``{species id: offspring}`` over ``stepping`` (and, in the case above, species that
            stepped before), summing to the offspring not yet given out when no species waits
            any more.

        Raises:
            ValueError: a stepping species is unknown, not yet alive in ``generation`` or had its
                turn already.
        """
        t = self.tally(generation)
        waiting = [
            s for s in sorted(self.species) if self.species[s].first_generation <= generation and s not in t.allocated
        ]
        stepping = sorted(set(stepping))
        bad = [s for s in stepping if s not in waiting]
        if bad:
            raise ValueError(
                f"species {bad} cannot take an offspring turn in generation {generation}: waiting are {waiting}"
            )
        weight = {s: self._weight(s) for s in waiting}
        dying = self.stagnant(generation)
        # species still to train this generation are assumed able: they are measured at their turn
        able = [s for s in waiting if s not in dying and (s not in stepping or self.species[s].can_reproduce)]
        settle = (generation, self.completed_generation, self.train_macs_spent, self._spent_through(generation))
        pool = 0 if self.settle_progress.no_offspring(*settle) else max(0, self.ecosystem.offspring - t.given)
        freed = min(t.freed, pool)  # given up by species that could not reproduce, not yet handed on
        own = largest_remainder(pool - freed, weight)  # each species' part, as if all could reproduce
        shared = largest_remainder(pool, {s: weight[s] for s in able})
        orders: dict[int, int] = {}
        extra = 0
        for s in stepping:
            if s in able:
                orders[s] = shared[s]
                extra += max(0, shared[s] - own[s])
            else:
                orders[s] = 0
                freed += own[s]
        t.allocated.update(stepping)
        left = pool - sum(orders.values())
        if left > 0 and not set(waiting) - set(stepping):  # the generation's last turn: hand on what is left
            stepped = {
                s: self._weight(s)
                for s in sorted(t.allocated - set(stepping))
                if s in self.species and self.species[s].can_reproduce
            }
            for s, n in largest_remainder(left, stepped).items():
                orders[s] = orders.get(s, 0) + n
                extra += n
        handed = min(extra, freed)
        t.counts["quota_reallocated"] += handed
        t.freed = freed - handed
        t.given += sum(orders.values())
        if t.freed and not set(waiting) - set(stepping):
            log.warning(
                "generation %d: %d offspring lost, no species could reproduce (every network failed)",
                generation,
                t.freed,
            )
        return dict(sorted(orders.items()))

    def settled(self, generation: int) -> bool:
        """Whether ``generation`` is past the settle point (``ecosystem.settle``), on the generations
        written; once reached it stays (:meth:`SettleProgress.settled
        <ecosim.evolution.settle_progress.SettleProgress.settled>`)."""
        spent = self._spent_through(generation)
        return self.settle_progress.settled(generation, self.completed_generation, self.train_macs_spent, spent)

    def waits_for(self, generation: int) -> bool:
        """Asynchronous mode: whether a species must wait to train ``generation`` until ``generation − 1``
        is written: from the settle point on, judged on :meth:`train_macs_logged`, and near a compute
        point, judged with the last written generation's compute
        (:meth:`SettleProgress.waits_for <ecosim.evolution.settle_progress.SettleProgress.waits_for>`)."""
        spent, done = self.train_macs_spent, self.completed_generation + 1
        per_generation = self.last_generation_macs or (spent / done if spent and done > 0 else None)
        return self.settle_progress.waits_for(
            generation, self.completed_generation, self.train_macs_logged(), per_generation
        )

    def _spent_through(self, generation: int) -> float | None:
        """Training compute of the generations written and of ``generation``'s steps so far (MACs;
        ``None``: unknown). Reads the tally of ``generation`` without opening it."""
        if self.train_macs_spent is None:
            return None
        t = self.tallies.get(generation)
        return self.train_macs_spent + (t.trained_macs if t is not None else 0.0)

    def learning_rate_scale(self, generation: int) -> float:
        """The factor on ``training.learning_rate`` for the trainings of ``generation``
        (``ecosystem.settle_lr_decay``), judged on :meth:`train_macs_logged`, so a step redone after a
        lost actor trains at the same rate (:meth:`SettleProgress.learning_rate_scale
        <ecosim.evolution.settle_progress.SettleProgress.learning_rate_scale>`)."""
        return self.settle_progress.learning_rate_scale(generation, self.train_macs_logged())

    def _weight(self, species_id: int) -> float:
        """A species' allocation weight (``ecosystem.species_allocation``).

        ``"mean_fitness"``: the species' mean fitness; ``"relative_fitness"``: eq. 2 applied
        across the living species' mean fitness (``g((m − µ) / σ)``, 0.5 for every species when
        all are equal). A species never measured counts as the mean of the known mean fitness.
        """
        known = {s: sp.weight for s, sp in self.species.items() if sp.weight is not None}
        fallback = float(np.mean(list(known.values()))) if known else 1.0
        if self.ecosystem.species_allocation == "mean_fitness":
            return known.get(species_id, fallback)
        ids = sorted(set(known) | {species_id})
        relative = logistic_zscore([known.get(s, fallback) for s in ids])
        return float(relative[ids.index(species_id)])

    # ---- placement under the species limit (§III-D, §III-F) -------------------------------------
    def place(self, generation: int, parent_id: int, offspring: Sequence[Offspring]) -> Placement:
        """Decide where each of a species' offspring goes, and count them.

        An offspring whose key is its species' stays (its species already adopted it). One whose
        key left the species joins the living species with that key, or founds a new species
        (first generation ``generation + 1``) while :meth:`free_species_slots` allows; otherwise
        it is replaced by its parent's clone (``Offspring.fallback``), counted once as
        ``failed_species_limit``. Offspring are taken in order, so two with the same new key
        found one species. An error record (creation raised) goes nowhere; it is counted as
        ``failed_reproduction`` and logged.

        Counts: ``offspring`` (every id), ``crossovers``, ``clones``, ``mutations_<kind>`` (by
        what the network finally is), ``failed_<kind>`` (constraint rejections),
        ``failed_species_limit``, ``failed_reproduction``.

        Args:
            generation: the generation whose reproduction step this is.
            parent_id: the species that made them.
            offspring: as :meth:`Population.reproduce <ecosim.evolution.population.Population.reproduce>` returned them.
        """
        t = self.tally(generation)
        c = t.counts
        parent = self.species.get(parent_id)
        parent_key = parent.key if parent is not None else None
        out = Placement()
        for o in offspring:
            c["offspring"] += 1
            rec = o.record
            if rec.status == Status.ERROR:
                c[FailReason.REPRODUCTION.column] += 1
                out.failed.append(rec)
                t.failed_rows.append(failed_offspring_row(generation, rec))
                continue
            for f in o.failed:
                c[FailReason(f).column] += 1
            c["cap_redraws"] += o.cap_redraws
            target: int | None = None
            if self.ecosystem.speciation and o.key != parent_key:
                target = self.species_with_key(o.key)
                if target is None and self.free_species_slots() > 0:
                    target = self.found_species(o.key, generation + 1)
                    out.founded.append(target)
                if target is None:
                    if o.fallback is None:
                        raise EcosimError(f"offspring {rec.id} left species {parent_id} without a fallback clone")
                    c[FailReason.SPECIES_LIMIT.column] += 1
                    rec = o.fallback
                    out.returned.append(rec)
                else:
                    out.moves.setdefault(target, []).append(rec)
            if rec.origin == Origin.CROSSOVER:
                c["crossovers"] += 1
            elif rec.origin == Origin.CLONE:
                c["clones"] += 1
            elif rec.origin == Origin.MUTATION and rec.mutation:
                c[f"mutations_{rec.mutation}"] += 1
        return out

    # ---- culling (§III-G, eq. 9) -----------------------------------------------------------------
    def cull(
        self, generation: int, candidates: Sequence[CullCandidate], protect_offspring_of: Collection[int] | None = None
    ) -> dict[int, list[int]]:
        """Networks to remove so the ecosystem holds at most ``ecosystem.max_population`` (eq. 9).

        First, every network of a stagnant species (:meth:`stagnant`; off by default) is removed,
        its champion and offspring included: the species goes extinct and frees its slot under
        the species limit (counted in ``species_extinct``). Past the settle point (:meth:`settled`,
        ``ecosystem.settle_keep`` > 0) every network but the fittest is removed, champions included
        (:meth:`SettleProgress.surplus <ecosim.evolution.settle_progress.SettleProgress.surplus>`;
        in asynchronous mode among the species done with ``generation`` or in ``protect_offspring_of``).
        Then, while the ecosystem is still too large: each species' champion is protected, and so are
        offspring (untrained networks) of the species in ``protect_offspring_of`` (``None``: every
        species, the synchronous mode; in asynchronous mode the species that just reproduced). The
        others are drawn one at a time with probability ∝ ``age / (f_r · c_r)``, re-normalised over
        those left; unprotected untrained networks have age 0, hence weight 0, and go last. The draw
        uses the stream ``(seed, generation, SPECIES_STREAM_BASE + species done so far, "culling")``
        over the candidates in id order.

        Args:
            candidates: every network of the ecosystem (any order).

        Returns:
            ``{species id: network ids}`` to remove, species in id order (ids in draw order).
        """
        t = self.tally(generation)
        dying = self.stagnant(generation) & {c.species_id for c in candidates}
        by_species: dict[int, list[int]] = defaultdict(list)
        for c in sorted(candidates, key=lambda c: c.network_id):
            if c.species_id in dying:
                by_species[c.species_id].append(c.network_id)
        if dying:
            t.counts["species_extinct"] = t.counts.get("species_extinct", 0) + len(dying)
            t.counts["culled"] += sum(len(v) for v in by_species.values())
            log.info("generation %d: species %s stagnant, extinct", generation, sorted(dying))
        cands = sorted((c for c in candidates if c.species_id not in dying), key=lambda c: c.network_id)
        if self.settle_progress.keeps_fittest and self.settled(generation):
            # asynchronous mode: only the species that trained in this generation compete
            stepped = None if protect_offspring_of is None else t.species_done | set(protect_offspring_of)
            complete = stepped is None or all(
                s in stepped or sp.generation >= generation or sp.first_generation > generation
                for s, sp in self.species.items()
            )
            spent = self._spent_through(generation)
            surplus = self.settle_progress.surplus(
                generation, cands, stepped, spent, self.train_macs_spent, complete=complete
            )
            for c in surplus:
                by_species[c.species_id].append(c.network_id)
            t.counts["culled"] += len(surplus)
            culled = {c.network_id for c in surplus}
            cands = [c for c in cands if c.network_id not in culled]
        excess = len(cands) - self.ecosystem.max_population
        if excess <= 0:
            return {s: by_species[s] for s in sorted(by_species)}
        protect = None if protect_offspring_of is None else set(protect_offspring_of)
        protected = [c.champion or (c.offspring and (protect is None or c.species_id in protect)) for c in cands]
        protected = protect_new_structure(
            generation, cands, protected, excess, self.ecosystem.protect_new_structure, self.ecosystem.protect_removals
        )
        rng = derive_rng(self.seed, generation, SPECIES_STREAM_BASE + len(t.species_done), "culling")
        idx = cull_eq9(
            rng,
            [c.age for c in cands],
            [c.relative_fitness for c in cands],
            [c.relative_complexity for c in cands],
            protected,
            excess,
        )
        for i in idx:
            by_species[cands[i].species_id].append(cands[i].network_id)
        t.counts["culled"] += len(idx)
        return {s: by_species[s] for s in sorted(by_species)}

    # ---- a species' step is done ---------------------------------------------------------------
    def finish_species_step(
        self, generation: int, species_id: int, rows: Sequence[dict[str, Any]], culled: Collection[int]
    ) -> list[dict[str, Any]]:
        """Close a species' step of ``generation``: mark culled rows, count failures, keep the rows.

        Args:
            rows: its networks-log rows of ``generation`` (updated in place: ``culled``).
            culled: ids removed by this step's culling.

        Returns:
            every networks-log row of this species and generation (trained networks and failed
            offspring), in id order: the file to write.
        """
        t = self.tally(generation)
        for r in rows:
            r["culled"] = r["network_id"] in culled
            if r["status"] == Status.DIVERGED:
                t.counts["diverged"] += 1
            elif r["status"] == Status.ERROR:
                t.counts["errors"] += 1
        t.rows.extend(rows)
        t.species_done.add(species_id)
        if species_id in self.species:
            self.species[species_id].generation = max(self.species[species_id].generation, generation)
        return self.network_rows(generation, species_id)

    def network_rows(self, generation: int, species_id: int) -> list[dict[str, Any]]:
        """Every networks-log row of one species in one open generation, in id order."""
        t = self.tally(generation)
        rows = [r for r in t.rows + t.failed_rows if r["species_id"] == species_id]
        return sorted(rows, key=lambda r: r["network_id"])

    # ---- the champion ----------------------------------------------------------------------------
    @staticmethod
    def best_of(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The fittest row with status ``ok`` (lowest id on ties), or ``None``: a generation champion.

        The engine keeps the weights of each generation champion (``RunDir.champion_file``), so
        ``ecosim show --generation G`` has them.
        """
        ok = [r for r in rows if r["status"] == Status.OK and r["fitness"] is not None]
        if not ok:
            return None
        return max(ok, key=lambda r: (r["fitness"], -r["network_id"]))

    def champion_candidate(self, rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The row of a network that beats the champion, or ``None``.

        Among rows with status ``ok``, the fittest (lowest id on ties, :meth:`best_of`), if its
        fitness exceeds the best ever trained. The caller saves the network and calls :meth:`crown`.
        """
        top = self.best_of(rows)
        return top if top is not None and top["fitness"] > self.champion.fitness else None

    def crown(self, row: Mapping[str, Any], generation: int) -> Champion:
        """Make the network of ``row`` (from :meth:`champion_candidate`) the champion."""
        self.champion = Champion(int(row["network_id"]), float(row["fitness"]), generation, row.get("parameters"))
        return self.champion

    # ---- generation rows ---------------------------------------------------------------------------
    def generation_complete(self, generation: int) -> bool:
        """Every living species finished ``generation`` (or starts after it)."""
        done = self.tallies[generation].species_done if generation in self.tallies else set()
        return all(
            s in done or sp.generation >= generation or sp.first_generation > generation
            for s, sp in self.species.items()
        )

    def generation_row(self, generation: int, species_count: int, network_count: int, now: float) -> dict[str, Any]:
        """Close ``generation`` and return its generations-log row (``docs/logs.md``).

        Args:
            species_count, network_count: after this generation's reproduction and culling.
            now: wall-clock time (``time.time()``, s), for ``wall_time_s``.
        """
        t = self.tallies.pop(generation, None) or GenerationTally(started=now)
        top = self.best_of(t.rows)  # not the champion: in asynchronous mode it may be a later generation's
        if top is not None and (self.best_fitness_logged is None or top["fitness"] > self.best_fitness_logged):
            self.best_fitness_logged = float(top["fitness"])
        row = {
            "generation": generation,
            **summarise_generation(t.rows),
            "best_fitness_so_far": self.best_fitness_logged,
            "species_count": species_count,
            "network_count": network_count,
            **t.counts,
            "wall_time_s": now - t.started,
            "task_time_s": t.task_time_s,
            **t.phases,
        }
        self.completed_generation = max(self.completed_generation, generation)
        self.last_generation_macs = float(row.get("train_macs") or 0.0) or self.last_generation_macs
        if self.train_macs_spent is not None:
            self.train_macs_spent += float(row.get("train_macs") or 0.0)
        return row

    def train_macs_logged(self) -> float | None:
        """Training multiply-accumulates of every network logged so far: the generations written
        (:attr:`train_macs_spent`) and the species steps of generations still open (asynchronous
        mode); ``None`` while :attr:`train_macs_spent` is unknown."""
        if self.train_macs_spent is None:
            return None
        return self.train_macs_spent + sum(train_macs_of(t.rows) for t in self.tallies.values())

    def budget_limit(self, budget: float) -> int | None:
        """How many generations a run with a compute budget ends with, once its logged networks reach it.

        Args:
            budget: ``run.train_macs``, training multiply-accumulates (0: none).

        Returns:
            ``None`` while :meth:`train_macs_logged` is below ``budget`` (or unknown, or no
            budget); else one past the newest generation written or started, so that every
            generation some species already started is completed (asynchronous mode) and no
            other starts (issue 17: equal compute).
        """
        spent = self.train_macs_logged()
        if budget <= 0 or spent is None or spent < budget:
            return None
        return max([self.completed_generation, *self.tallies]) + 1

    def short_of_budget(self, budget: float) -> str:
        """The line for a run that ``run.generations`` ended before its compute budget was spent.

        Args:
            budget: ``run.train_macs``, training multiply-accumulates (> 0).

        Returns:
            what was spent and what the settle schedule had not done yet (:meth:`SettleProgress.short_of_budget
            <ecosim.evolution.settle_progress.SettleProgress.short_of_budget>`), so a budgeted comparison
            does not read a run cut short as if it had spent its budget.
        """
        spent = self.train_macs_spent
        if spent is None:
            done = "an unknown part"
        else:  # a share under 1% keeps two digits: "0.18%", not "0%"
            share = spent / budget
            done = f"{spent:.3g} ({share:.0%})" if share >= 0.01 else f"{spent:.3g} ({100 * share:.2g}%)"
        line = (
            f"run.generations ended the run after generation {self.completed_generation}, before its compute "
            f"budget: {done} of run.train_macs = {budget:.3g} training multiply-accumulates spent"
        )
        return line + self.settle_progress.short_of_budget(self.completed_generation, spent)

    # ---- state -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The whole state, JSON-ready: the checkpoint's ``coordinator`` entry
        (:func:`~ecosim.evolution.state.policy_to_json`)."""
        return policy_to_json(self)

    @classmethod
    def from_json(
        cls,
        state: Mapping[str, Any],
        ecosystem: EcosystemConfig,
        seed: int,
        mutation: MutationParams | None = None,
        species: Sequence[SpeciesState] = (),
        completed_generation: int | None = None,
        settling: Settling | None = None,
    ) -> EcosystemPolicy:
        """Inverse of :meth:`to_json` (:func:`~ecosim.evolution.state.restore_policy`).

        ``species`` and ``completed_generation`` (from the checkpoint) are only needed for a state
        written before :data:`~ecosim.evolution.state.STATE_FORMAT` 2, which kept per-species
        generations apart.

        Raises:
            CheckpointError: an older state of a generation in progress (asynchronous mode),
                whose network rows it did not keep.
        """
        policy = cls(ecosystem, seed, mutation, settling)
        restore_policy(policy, state, species, completed_generation)
        return policy


__all__ = ["EcosystemPolicy"]
