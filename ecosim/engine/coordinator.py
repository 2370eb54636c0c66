"""The asyncio ecosystem coordinator (driver side): fan out, await, ask the policy, call reporters.

Paper §III-A to §III-G. The coordinator owns the species actors (one per species) and carries
out what the Ray-free :class:`~ecosim.evolution.ecosystem.EcosystemPolicy` decides: the initial
species, the offspring quotas, where offspring that left their species go (the species limit),
culling (eq. 9), the champion and the generation row. It writes the Arrow logs, the champion and
a checkpoint after every generation. It takes no ecosystem decision of its own.

Two modes share every piece:

* ``sync``: a barrier per generation (train all → reproduce → cull → log → checkpoint). Every
  decision is taken in a fixed order from streams derived from (seed, generation, id), so the
  same seed gives bit-identical logs whatever worker runs what.
* ``async``: each species advances on its own (train → reproduce → cull under the ecosystem
  lock); a generation row is written once every living species has finished that generation.

Lost actors and nodes (``docs/cluster.md``). The coordinator keeps a copy of every species'
committed state (:class:`~ecosim.engine.actors.SpeciesActors`: what its actor's ``commit``
returned, followed by every network the coordinator added or removed since). A species actor lost while training (its
process
killed, its node lost) is re-created from that copy and the species' training redone; training
tasks lost with a node are retried by Ray (``resources.max_retries``) on the nodes left. An actor
lost after the training barrier (reproduction, placement, culling, commit) rolls the step back —
the policy to its state before the step, the species it touched to their committed states — and
redoes it; the surviving actors return their training result again without training. Every
decision draws from streams of (seed, generation, id), so a synchronous run's logs equal an
uninterrupted run's. Recoveries are bounded (``resources.max_retries`` per species and
generation) and each one is a row of the events log (``docs/logs.md``). When no node can run a
training task for ``resources.resource_timeout`` seconds, the run stops with
:class:`~ecosim.errors.ClusterError`; its last complete generation is checkpointed and
``ecosim resume RUN_DIR --address ...`` continues it. When training tasks wait and none starts or
finishes for ``resources.stall_timeout`` seconds, the run warns once, and after as long again
stops with :class:`~ecosim.errors.ResumableStop` (issue 19; ``docs/cluster.md``, "A run that waits").
The actors and their copies are :mod:`ecosim.engine.actors`, the two watchdogs
:mod:`ecosim.engine.watchdogs`, the recovery records :mod:`ecosim.engine.recovery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shlex
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from ecosim.config import Config
from ecosim.data.arrays import DataArrays
from ecosim.engine.actors import Snapshot, SpeciesActors
from ecosim.engine.recovery import LOST_ERRORS, Recovery, RecoveryBudget, describe
from ecosim.engine.tasks import DataHandle
from ecosim.engine.watchdogs import watch_progress, watch_resources
from ecosim.errors import ClusterError, ExtinctionError
from ecosim.evolution.ecosystem import EcosystemPolicy
from ecosim.evolution.population import ReproductionPolicy
from ecosim.evolution.records import NetworkRecord, Offspring, SpeciesState
from ecosim.evolution.scheduling import costs_of, species_order, workload_of
from ecosim.evolution.settling import Settling
from ecosim.phenotype.records import TrainingParams
from ecosim.progress import Reporter
from ecosim.store.checkpoint import computed_settings, load_checkpoint, save_checkpoint
from ecosim.store.logs import LogWriter, logged_train_macs
from ecosim.store.networks import save_network
from ecosim.store.rundir import RunDir

log = logging.getLogger(__name__)


def _require(result: dict[str, Any] | None, sid: int, g: int) -> dict[str, Any]:
    """A training result the step needs (the species cannot be retired while it steps)."""
    if result is None:
        raise ClusterError(f"species {sid} vanished while its step of generation {g} was redone")
    return result


@dataclasses.dataclass
class _StepBase:
    """What a step rolls back to: the policy's state, and the actors and committed states before it."""

    policy: dict[str, Any]
    actors: Snapshot


class Ecosystem:
    """Drives one run: ``await Ecosystem(...).run()``.

    Args:
        config: the resolved configuration.
        run_dir: the run directory (logs, checkpoints, champion).
        data: dataset arrays (put into Ray's object store once; the first task on each machine
            copies them to the machine's disk, every task maps that copy (:mod:`ecosim.engine.tasks`);
            no node reads the data folder).
        input_shape: ``(C, H, W)``; classes: number of classes.
        reporters: progress hooks.

    Attributes:
        policy: the ecosystem's state and decisions.
        actors: the living species' actors (species id → handle) and the copies of their
            committed states (:class:`~ecosim.engine.actors.SpeciesActors`).
    """

    def __init__(
        self,
        config: Config,
        run_dir: Path,
        data: DataArrays,
        input_shape: tuple[int, int, int],
        classes: int,
        reporters: Sequence[Reporter] = (),
    ) -> None:
        self.cfg = config
        self._settings = computed_settings(config)  # in every checkpoint: resume refuses a config.toml edited since
        self.run_dir = Path(run_dir)
        self.input_shape = input_shape
        self.classes = classes
        self.reporters = list(reporters)
        self.seed = config.run.seed
        self.logs = LogWriter(self.run_dir)
        self.data = DataHandle.put(data)  # small: tasks never get the arrays as an argument (issue 19)
        self.mean, self.std = tuple(data.mean), tuple(data.std)
        t, res = config.training, config.resources
        self.training: TrainingParams = t
        test_size = len(data.test_labels) if data.test_labels is not None else 0
        self.workload = workload_of(
            len(data.train_labels), len(data.eval_labels), test_size, t.train_fraction, t.epochs
        )
        self.task_options = {
            "num_cpus": res.cpus_per_task,
            "num_gpus": res.gpus_per_task,
            "max_retries": res.max_retries,
        }
        self.reproduction = ReproductionPolicy(
            speciation=config.ecosystem.speciation,
            crossover_rate=config.ecosystem.crossover_rate,
            mutation=config.mutation,
            complexity=config.ecosystem.complexity,
            complexity_favours=config.ecosystem.complexity_favours,
        )
        self.settling = Settling.of(config.run, config.ecosystem)
        self.policy = EcosystemPolicy(config.ecosystem, self.seed, config.mutation, self.settling)
        self._budget = RecoveryBudget(res.max_retries)
        spawn_args = (self.seed, self.reproduction, self.data, self.training, self.task_options, res.task_timeout)
        self.actors = SpeciesActors(spawn_args, self._budget, self._write_event)
        self.lock = asyncio.Lock()
        #: asynchronous mode: notified (under the lock) after each species' step, so a species that
        #: waits for a generation to complete (:meth:`EcosystemPolicy.waits_for`) sees it
        self._stepped = asyncio.Condition(self.lock)
        self._tasks: list[asyncio.Future] = []
        self._pending: list[Recovery] = []  # recoveries whose redo ends with the step in progress
        #: the generation whose row brought the training compute to ``run.train_macs`` (None: not yet)
        self.budget_reached: int | None = None
        #: generations the run ends with once the budget is reached: the budget's generation and, in
        #: asynchronous mode, every generation some species had already started (each completes)
        self._budget_limit: int | None = None

    @property
    def states(self) -> dict[int, SpeciesState]:
        """``{species id: SpeciesState}``: each living species' committed state (the actors' copies)."""
        return self.actors.states

    # ---- species actors ----------------------------------------------------------------------
    async def _found(self, sids: Sequence[int], generation: int) -> None:
        """Start the actors of species the policy founded (together; see :meth:`SpeciesActors.start`)."""
        keys = {sid: self.policy.species[sid].key for sid in sids}
        await self.actors.start(keys, generation, room=self.policy.free_species_slots() > 0)

    async def _retire(self, sid: int) -> None:
        """Forget a species that lost its last network (the policy, then its actor: :meth:`SpeciesActors.retire`)."""
        self.policy.retire_species(sid)
        self.actors.retire(sid)

    def _end_step(self) -> None:
        """A step is complete: kill the actors it retired, record the recoveries it needed."""
        self.actors.end_step()
        pending, self._pending = self._pending, []
        for rec in pending:
            self._write_event(rec)

    def _longest_first(self, sids: Sequence[int]) -> list[int]:
        """Species in order of their longest predicted training task (issue 18: Ray keeps a worker
        for one species while it has tasks queued, so the species holding the longest tasks start
        first); from the committed-state copies."""
        longest = {
            s: max(
                costs_of(
                    {r.id: (r.genome, r.fitness is not None) for r in self.states[s].networks.values()}, self.workload
                ).values(),
                default=0,
            )
            for s in sids
        }
        return species_order(longest)

    # ---- recovery ----------------------------------------------------------------------------------
    def _write_event(self, rec: Recovery, level: int = logging.WARNING, message: str | None = None) -> None:
        """Write an events-log row and log it (``message`` instead of the lost/cause/redone line)."""
        row = rec.row()
        self.logs.write_event(row)
        if message is not None:
            log.log(level, "%s, in %.1f s", message, row["recovery_s"])
            return
        log.log(
            level,
            "generation %s: %s (%s); redone: %s, in %.1f s",
            rec.generation,
            rec.lost or rec.event,
            rec.cause or "no error",
            rec.redone or "nothing",
            row["recovery_s"],
        )

    async def _train(self, sid: int, generation: int, locked: bool = False) -> dict[str, Any] | None:
        """Train species ``sid`` in ``generation`` (see :meth:`SpeciesActor.train`), surviving a lost actor.

        A lost actor is re-created from the species' committed state and the training redone
        (an events-log row ``species_recovered``), within the recovery budget.

        Args:
            locked: the caller holds :attr:`lock` (recovery takes it otherwise).

        Returns:
            the training result; ``None`` when the species was retired meanwhile (asynchronous
            mode: another species' step culled its last network; decided under the lock).

        Raises:
            ClusterError: the recovery budget is spent.
        """
        rec: Recovery | None = None
        while True:
            actor = self.actors.get(sid)
            if actor is None:
                return None
            try:
                result = await actor.train.remote(
                    generation, self.workload, self.policy.learning_rate_scale(generation)
                )
            except LOST_ERRORS as exc:
                async with contextlib.nullcontext() if locked else self.lock:
                    if sid not in self.actors:
                        return None
                    if rec is None:
                        node, pid = self.actors.where.get(sid, (None, None))
                        rec = Recovery(
                            "species_recovered", generation, describe(exc), species_id=sid, node_id=node, pid=pid
                        )
                    await self.actors.recover(sid, actor, generation)
                    rec.attempt = self._budget.spent[("species", sid, generation)]
                continue
            if rec is not None:
                n = len(result["rows"])
                where = f"pid {rec.pid} on node {rec.node_id[:12]}" if rec.node_id else "location unknown"
                rec.lost = f"species {sid}'s actor ({where}) with its training of generation {generation}"
                rec.redone = f"species {sid}'s actor re-created from its committed state; {n} networks trained again"
                rec.networks_retrained = n
                self._write_event(rec)
            self.actors.where[sid] = (result.get("node_id"), result.get("pid"))
            self.actors.trained_by[sid] = actor
            return result

    def _base(self) -> _StepBase:
        """The state a step rolls back to (taken before the step)."""
        return _StepBase(self.policy.to_json(), self.actors.snapshot())

    async def _roll_back(
        self, generation: int, base: _StepBase, exc: BaseException, stepping: Collection[int] | None
    ) -> None:
        """Undo a step that lost an actor after training, so that it can be redone (hold the lock).

        The policy returns to its state before the step; species founded in the step lose their
        actors, species retired in it come back. The stepping species (``None``: every species,
        the synchronous mode) are restored to their committed states before the step (their
        actors give back their training result unchanged when asked again); any other species
        the step changed has the step's additions and removals undone (asynchronous mode: its
        own training may be in flight); every other actor is probed. Lost actors are re-created
        from their committed states. The recovery is recorded once the redone step is complete.

        Raises:
            ClusterError: the recovery budget of the step (or of a species) is spent.
        """
        what = "the step of every species" if stepping is None else f"species {sorted(stepping)}'s step"
        attempt = self._budget.spend(("step", tuple(sorted(stepping or ())), generation), what)
        rec = Recovery("step_redone", generation, describe(exc), attempt=attempt)
        self.policy = EcosystemPolicy.from_json(
            base.policy, self.cfg.ecosystem, self.seed, self.cfg.mutation, settling=self.settling
        )
        recreated = await self.actors.roll_back(base.actors, stepping, generation, self.policy.free_species_slots() > 0)
        rec.lost = f"an actor during {what} of generation {generation} (after training)" + (
            f"; species {recreated} re-created from their committed states" if recreated else ""
        )
        rec.redone = f"{what} of generation {generation}: reproduction, placement, culling" + (
            f"; species {recreated} trained again" if recreated else "; training results reused"
        )
        rec.networks_retrained = sum(len(self.states[s].networks) for s in recreated)
        if len(recreated) == 1:
            rec.species_id = recreated[0]
            rec.node_id, rec.pid = self.actors.where.get(recreated[0], (None, None))
        self._pending.append(rec)

    # ---- start and restore -----------------------------------------------------------------------
    async def initialise(self) -> None:
        """Create the initial species actors and networks (§III-A); started again if an actor is lost."""
        while True:
            try:
                initial = list(self.policy.initial_species(self.input_shape, self.classes))
                await self._found([sid for sid, _ in initial], 0)
                await asyncio.gather(*(self.actors.add(sid, recs) for sid, recs in initial))
                await self.actors.commit(sorted(self.actors))
                return
            except LOST_ERRORS as exc:
                attempt = self._budget.spend(("initial", 0), "an initial species' actor")
                self.actors.clear()
                self.policy = EcosystemPolicy(self.cfg.ecosystem, self.seed, self.cfg.mutation, self.settling)
                self._write_event(
                    Recovery(
                        "step_redone",
                        0,
                        describe(exc),
                        attempt=attempt,
                        lost="an actor while the initial species were created",
                        redone="the initial species, created again",
                    )
                )

    async def restore(self) -> int:
        """Recreate the policy and the actors from the newest checkpoint; returns the next generation."""
        t0 = time.time()
        ckpt = load_checkpoint(self.run_dir)
        states = [SpeciesState(sp["species_id"], sp["key"], sp["generation"], sp["networks"]) for sp in ckpt["species"]]
        self.policy = EcosystemPolicy.from_json(
            ckpt["coordinator"],
            self.cfg.ecosystem,
            self.seed,
            self.cfg.mutation,
            states,
            ckpt["generation"],
            self.settling,
        )
        # the open generations' clocks skip the pause (before 0.9.1 no saved_at: their latest start)
        saved = ckpt["coordinator"].get("saved_at", max((t.started for t in self.policy.tallies.values()), default=t0))
        self.policy.exclude_pause(max(t0 - float(saved), 0.0))
        copies = {st.species_id: st for st in states}
        start = ckpt["generation"] + 1
        self.actors.restart(copies, {})
        actors = await asyncio.gather(*(self.actors.load(st.species_id, start) for st in states))
        self.actors.restart(copies, {st.species_id: a for st, a in zip(states, actors)})
        done = {sid: sp.generation for sid, sp in self.policy.species.items()}
        removed = self.logs.truncate_after(ckpt["generation"], done)
        if self.policy.train_macs_spent is None:  # an older checkpoint: the log up to it has the sum
            self.policy.train_macs_spent = logged_train_macs(self.run_dir, ckpt["generation"])
        self._check_budget(ckpt["generation"])
        g = ckpt["generation"]
        after = (
            f"its work after that checkpoint (asynchronous mode: species ahead of it; {removed} log "
            "files of it removed) is done again"
            if removed
            else "nothing after it was lost"
        )
        self._write_event(
            Recovery(
                "resumed",
                start,
                None,
                started=t0,
                lost=(
                    f"the work after the checkpoint of generation {g} ({removed} log files of it removed)"
                    if removed
                    else f"nothing: the run had stopped cleanly after generation {g}"
                ),
                redone=f"every species from its checkpointed state; the run goes on from generation {start}",
            ),
            logging.INFO,  # a resume is the user's own step; a stop's loss was reported when it happened
            f"resumed from the checkpoint of generation {g}: {after}; the run goes on from generation {start}",
        )
        return start

    # ---- one step: reproduce, place, cull, log ------------------------------------------------
    async def _evolve(
        self, generation: int, results: Mapping[int, Mapping[str, Any]], protect: Collection[int] | None
    ) -> tuple[set[int], dict[int, int]]:
        """Reproduction, placement and culling after the species of ``results`` trained (§III-D to §III-G).

        Args:
            results: ``{species id: SpeciesActor.train result}`` of the species whose turn it is.
            protect: species whose offspring culling protects (``None``: all); the species that
                reproduce in this step are added.

        Returns:
            the culled network ids and the offspring quotas carried out.
        """
        p = self.policy
        for s in sorted(results):
            r = results[s]
            p.record_training(generation, s, r["rows"], r["can_reproduce"], r["task_time_s"])
        orders = p.allocate(generation, [s for s in results if s in self.actors])
        ids = {s: p.take_ids(n) for s, n in orders.items() if n > 0}
        born = await asyncio.gather(*(self.actors[s].reproduce.remote(generation, ids[s]) for s in ids))
        await self._place(generation, list(zip(ids, born)))
        if protect is not None:
            protect = set(protect) | set(ids)
        culled = await self._cull(generation, protect)
        return culled, orders

    async def _place(self, generation: int, born: Sequence[tuple[int, list[Offspring]]]) -> None:
        """Carry out the policy's placement of each parent species' offspring, in order.

        The policy decides species by species; the actors of every species founded are then
        started together, and the networks reach their species concurrently (one call per species).
        """
        placements = [(parent, self.policy.place(generation, parent, offspring)) for parent, offspring in born]
        founded = [sid for _, placement in placements for sid in placement.founded]
        if founded:
            await self._found(founded, generation)
            for sid in founded:
                log.info("species %d founded (key %s)", sid, self.policy.species[sid].key)
        adds: dict[int, list[NetworkRecord]] = {}
        for parent, placement in placements:
            for target, recs in placement.moves.items():
                adds.setdefault(target, []).extend(recs)
            if placement.returned:
                adds.setdefault(parent, []).extend(placement.returned)
        await asyncio.gather(*(self.actors.add(target, recs) for target, recs in adds.items()))

    async def _cull(self, generation: int, protect: Collection[int] | None) -> set[int]:
        """Eq. 9 culling over the whole ecosystem until the size limit holds (§III-G)."""
        sids = sorted(self.actors)
        per = await asyncio.gather(*(self.actors[s].cull_candidates.remote(generation) for s in sids))
        removal = self.policy.cull(generation, [c for cands in per for c in cands], protect)
        sizes = await asyncio.gather(*(self.actors.remove(s, ids) for s, ids in removal.items()))
        for s, n in zip(removal, sizes):
            if n == 0:
                await self._retire(s)
        return {i for ids in removal.values() for i in ids}

    def _log(
        self, generation: int, results: Mapping[int, Mapping[str, Any]], culled: set[int], orders: Mapping[int, int]
    ) -> None:
        """Write the networks-log files of this step (species that trained, and any that reproduced)."""
        for s in sorted(results):
            rows = self.policy.finish_species_step(generation, s, list(results[s]["rows"]), culled)
            if rows:
                self.logs.write_networks(generation, s, rows)
        for s in sorted(set(orders) - set(results)):  # async: a late quota's failed offspring
            rows = self.policy.network_rows(generation, s)
            if rows:
                self.logs.write_networks(generation, s, rows)

    async def _update_champion(self, rows: list[dict[str, Any]], generation: int) -> None:
        """Keep the generation champion's weights; crown and save it if it beats the best ever.

        The weights come from the committed states (call after the commit): no actor is asked.
        """
        top = self.policy.best_of(rows)
        if top is None:
            return
        nid = top["network_id"]
        home = self.states.get(top["species_id"])
        rec: NetworkRecord | None = home.networks.get(nid) if home is not None else None
        if rec is None:  # moved or culled meanwhile: search
            rec = next((st.networks[nid] for st in self.states.values() if nid in st.networks), None)
        if rec is None:
            return
        meta = {
            "network_id": rec.id,
            "fitness": float(top["fitness"]),
            "test_accuracy": top.get("test_accuracy"),
            "generation": generation,
            "parameters": rec.parameters,
            "dataset": self.cfg.data.dataset,
            "activation": self.cfg.training.activation,
            "input_shape": list(self.input_shape),
            "classes": self.classes,
            "mean": list(self.mean),
            "std": list(self.std),
        }
        layout = RunDir(self.run_dir)
        save_network(layout.champion_file(rec.id), rec.genome, rec.weights, meta)
        if self.policy.champion_candidate([top]) is not None:
            self.policy.crown(top, generation)
            save_network(layout.champion, rec.genome, rec.weights, meta)

    # ---- generation rows and checkpoints ------------------------------------------------------
    async def _finish_generation(self, generation: int) -> None:
        row = self.policy.generation_row(generation, len(self.actors), self.actors.count(), time.time())
        self.logs.write_generation(row)
        self._checkpoint(generation)
        self._check_budget(generation)
        for rep in self.reporters:
            rep.on_generation(row)
        if not self.actors:
            raise ExtinctionError(
                f"the ecosystem went extinct in generation {generation}; logs and the best network are in "
                f"{self.run_dir}"
            )

    def _check_budget(self, generation: int) -> None:
        """Note the first generation whose logged networks bring the training compute to ``run.train_macs``
        (:meth:`~ecosim.evolution.ecosystem.EcosystemPolicy.budget_limit` decides where the run ends).

        Called after each generation row and (asynchronous mode) each species' step, whose rows
        count at once, so the run ends on complete generations whose champion the logs hold.
        """
        if self.budget_reached is None:
            self._budget_limit = self.policy.budget_limit(self.cfg.run.train_macs)
            if self._budget_limit is not None:
                self.budget_reached = generation

    def _stops_before(self, generation: int, generations: int) -> bool:
        """Whether a species must not start ``generation`` (the run's length, or the budget's)."""
        return generation >= generations or (self._budget_limit is not None and generation >= self._budget_limit)

    def _checkpoint(self, generation: int) -> None:
        """Save the policy and every living species' committed state (the coordinator's copies)."""
        species = [
            {"species_id": st.species_id, "key": st.key, "generation": st.generation, "networks": st.networks}
            for st in (self.states[s] for s in sorted(self.actors))
        ]
        save_checkpoint(
            self.run_dir,
            generation,
            {**self.policy.to_json(), "saved_at": time.time()},  # a resume leaves the pause out of wall_time_s
            species,
            keep=self.cfg.run.checkpoint_keep,
            settings=self._settings,
        )

    # ---- the two modes -------------------------------------------------------------------------
    async def _run_sync(self, start: int, generations: int) -> None:
        for g in range(start, generations):
            if self._stops_before(g, generations):
                return
            for rep in self.reporters:
                rep.on_phase(g, "training", self.actors.count())
            self.policy.tally(g, time.time())
            base = self._base()
            while True:
                try:
                    await self._sync_generation(g)
                    break
                except LOST_ERRORS as exc:
                    await self._roll_back(g, base, exc, None)
            self._end_step()

    async def _sync_generation(self, g: int) -> None:
        """One synchronous generation: train all → reproduce → cull → log → commit → checkpoint."""
        tally = self.policy.tally(g)
        sids = self._longest_first(sorted(self.actors))
        trained = await asyncio.gather(*(self._train(s, g) for s in sids))
        results = {s: r for s, r in sorted(zip(sids, trained)) if r is not None}  # id order, as before
        t_train = time.time()
        tally.phases["train_phase_s"] = t_train - tally.started
        for rep in self.reporters:
            rep.on_phase(g, "evolving", 0)
        culled, orders = await self._evolve(g, results, None)
        tally.phases["evolve_phase_s"] = time.time() - t_train
        self._log(g, results, culled, orders)
        await self.actors.commit(sorted(self.actors))
        await self._update_champion([row for s in sorted(results) for row in results[s]["rows"]], g)
        await self._finish_generation(g)

    async def _species_loop(self, sid: int, generations: int) -> None:
        """One species' asynchronous loop: train, then its step under the lock, until the last generation.

        Whether the species still lives is decided under the lock only, so a species retired
        by a step that is then rolled back keeps its loop. Past the settle point a species
        waits before training a generation until the one before is complete
        (:meth:`~ecosim.evolution.ecosystem.EcosystemPolicy.waits_for`), so the networks that train
        on are the fittest of that whole generation.
        """
        while True:
            async with self.lock:
                # past the settle point who trains is decided over a whole generation: wait for it
                await self._stepped.wait_for(
                    lambda: sid not in self.actors or not self.policy.waits_for(self.policy.species[sid].generation + 1)
                )
                if sid not in self.actors:
                    self.actors.release(sid)
                    return
                g = self.policy.species[sid].generation + 1
                if self._stops_before(g, generations):
                    return
                self.policy.tally(g, time.time())  # starts the generation's clock
            result = await self._train(sid, g)
            async with self.lock:
                if result is None or sid not in self.actors:
                    self.actors.release(sid)
                    self._stepped.notify_all()
                    return
                await self._async_step(sid, g, result, generations)
                self._stepped.notify_all()

    async def _async_step(self, sid: int, g: int, result: dict[str, Any], generations: int) -> None:
        """Species ``sid``'s step of generation ``g`` after its training (hold the lock); redone if an actor is lost."""
        base = self._base()
        while True:
            try:
                if self.actors.trained_by.get(sid) is not self.actors[sid]:
                    # its actor was lost and re-created (by another step's recovery) after it trained
                    result = _require(await self._train(sid, g, locked=True), sid, g)
                before = set(self.actors)
                culled, orders = await self._evolve(g, {sid: result}, {sid})
                self._log(g, {sid: result}, culled, orders)
                if sid in self.actors:
                    await self.actors.commit([sid])
                await self._update_champion(result["rows"], g)
                # from here on no actor is called: nothing can be lost, the step is done
                for new in sorted(set(self.actors) - before):
                    self._tasks.append(asyncio.ensure_future(self._species_loop(new, generations)))
                self._check_budget(g)  # this step's networks count now, not when the generation completes
                await self._finish_complete_generations(generations)
                break
            except LOST_ERRORS as exc:
                await self._roll_back(g, base, exc, {sid})
                # the same result again (its actor kept it), or trained again if the actor was lost
                result = _require(await self._train(sid, g, locked=True), sid, g)
        self._end_step()

    async def _finish_complete_generations(self, generations: int) -> None:
        p = self.policy
        while p.completed_generation + 1 < generations and p.generation_complete(p.completed_generation + 1):
            await self._finish_generation(p.completed_generation + 1)

    async def _run_async(self, start: int, generations: int) -> None:
        self._tasks = [asyncio.ensure_future(self._species_loop(s, generations)) for s in sorted(self.actors)]
        while self._tasks:  # loops of species founded meanwhile join the list
            done, _ = await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                self._tasks.remove(task)
                task.result()  # a loop that failed stops the run now, not after the others finish
        async with self.lock:
            await self._finish_complete_generations(generations)

    async def run(self, resume: bool = False) -> dict[str, Any]:
        """Run (or resume) to ``run.generations``; returns the best network's summary.

        Returns:
            ``{"id", "fitness", "generation", "parameters"}`` of the champion (``id`` ``None`` if none).

        Raises:
            ExtinctionError: no network left (logs and the champion are saved first).
            ClusterError: no node left that can run a training task for
                ``resources.resource_timeout`` s, or lost work redone more often than
                ``resources.max_retries`` allows; the last complete generation is checkpointed.
            ResumableStop: training tasks waited without any starting or finishing for twice
                ``resources.stall_timeout`` (:func:`~ecosim.engine.watchdogs.watch_progress`); the last complete
                generation is checkpointed.
        """
        if resume:
            start = await self.restore()
        else:
            await self.initialise()
            start = 0
        generations = self.cfg.run.generations
        for rep in self.reporters:
            rep.on_start(start, generations)
        mode = self._run_sync if self.cfg.run.mode == "sync" else self._run_async
        work = asyncio.ensure_future(mode(start, generations))
        res, address = self.cfg.resources, self.cfg.run.address
        last = lambda: self.policy.completed_generation  # noqa: E731
        resume_command = f"ecosim resume {shlex.quote(str(self.run_dir))}" + (
            f" --address {address}" if address else ""
        )
        watches = [
            asyncio.ensure_future(
                watch_resources(
                    res.cpus_per_task,
                    res.gpus_per_task,
                    res.resource_timeout,
                    last,
                    resume_command,
                    self._write_event,
                )
            )
        ]
        if res.stall_timeout != 0:
            watches.append(
                asyncio.ensure_future(
                    watch_progress(
                        res.stall_timeout,
                        lambda: list(self.actors.items()),
                        last,
                        self.run_dir,
                        self._write_event,
                    )
                )
            )
        try:
            await asyncio.wait({work, *watches}, return_when=asyncio.FIRST_COMPLETED)
            for watch in watches:
                if watch.done():
                    watch.result()  # raises ClusterError or ResumableStop
            await work
        finally:
            for task in (*watches, work, *self._tasks):
                task.cancel()
            await asyncio.gather(*watches, work, *self._tasks, return_exceptions=True)
            self._tasks = []
        return self.policy.champion.to_json()

    async def shutdown(self) -> None:
        """Kill every species actor and wait until their processes are gone
        (:meth:`SpeciesActors.shutdown`)."""
        await self.actors.shutdown()


__all__ = ["Ecosystem"]
