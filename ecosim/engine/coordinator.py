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
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Collection, Mapping, Protocol, Sequence

import ray

from ecosim.config import Config
from ecosim.engine.species import SpeciesActor
from ecosim.errors import ExtinctionError
from ecosim.evolution.ecosystem import EcosystemPolicy
from ecosim.evolution.ecosystem import largest_remainder as allocate  # the old import path
from ecosim.evolution.population import ReproductionPolicy
from ecosim.evolution.records import NetworkRecord, Offspring, SpeciesState
from ecosim.phenotype.records import DataArrays, TrainSettings
from ecosim.store.checkpoint import load_checkpoint, save_checkpoint
from ecosim.store.logs import LogWriter
from ecosim.store.networks import save_network
from ecosim.store.rundir import RunDir

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Hooks the coordinator calls (the CLI's progress display implements them)."""

    def on_start(self, start_generation: int, generations: int) -> None: ...

    def on_phase(self, generation: int, phase: str, in_flight: int) -> None: ...

    def on_generation(self, row: dict[str, Any]) -> None: ...


class Ecosystem:
    """Drives one run: ``await Ecosystem(...).run()``.

    Args:
        config: the resolved configuration.
        run_dir: the run directory (logs, checkpoints, champion).
        data: dataset arrays (put into Ray's object store once).
        input_shape: ``(C, H, W)``; classes: number of classes.
        reporters: progress hooks.

    Attributes:
        policy: the ecosystem's state and decisions.
        actors: ``{species id: SpeciesActor handle}``, one per living species.
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
        self.run_dir = Path(run_dir)
        self.input_shape = input_shape
        self.classes = classes
        self.reporters = list(reporters)
        self.seed = config.run.seed
        self.logs = LogWriter(self.run_dir)
        self.data_ref = ray.put(data)
        self.mean, self.std = tuple(data.mean), tuple(data.std)
        t, res = config.training, config.resources
        self.settings = TrainSettings(**dataclasses.asdict(t), threads=max(1, int(res.cpus_per_task)))
        self.task_options = {"num_cpus": res.cpus_per_task, "num_gpus": res.gpus_per_task, "max_retries": res.max_retries}
        self.reproduction = ReproductionPolicy(
            speciation=config.ecosystem.speciation,
            crossover_rate=config.ecosystem.crossover_rate,
            mutation=config.mutation,
        )
        self.policy = EcosystemPolicy(config.ecosystem, self.seed, config.mutation)
        self.actors: dict[int, Any] = {}
        self.lock = asyncio.Lock()
        self._tasks: list[asyncio.Future] = []
        self._spare: Any = None

    # ---- species actors ----------------------------------------------------------------------
    def _spawn(self, sid: int, key: Any) -> Any:
        return SpeciesActor.remote(  # type: ignore[attr-defined]
            sid, key, self.seed, self.reproduction, [self.data_ref], self.settings, self.task_options,
            self.cfg.resources.task_timeout,
        )

    async def _start_actor(self, sid: int) -> None:
        """The actor of a species the policy founded. A pre-started spare takes the role (a new
        actor process costs about a second); the next spare starts in the background while the
        policy allows another species."""
        key = self.policy.species[sid].key
        if self._spare is not None:
            actor, self._spare = self._spare, None
            await actor.assign.remote(sid, key)  # async actors do not order calls: wait for it
        else:
            actor = self._spawn(sid, key)
        self.actors[sid] = actor
        if self.policy.free_species_slots() > 0:
            self._spare = self._spawn(-1, None)

    async def _retire(self, sid: int) -> None:
        self.policy.retire_species(sid)
        ray.kill(self.actors.pop(sid))

    async def _sizes(self) -> dict[int, int]:
        sids = sorted(self.actors)
        sizes = await asyncio.gather(*(self.actors[s].size.remote() for s in sids))
        return dict(zip(sids, sizes))

    async def _count(self) -> int:
        return int(sum((await self._sizes()).values()))

    # ---- start and restore -----------------------------------------------------------------------
    async def initialise(self) -> None:
        """Create the initial species actors and networks (§III-A)."""
        for sid, recs in self.policy.initial_species(self.input_shape, self.classes):
            await self._start_actor(sid)
            await self.actors[sid].add.remote(recs)
        await asyncio.gather(*(a.commit.remote() for a in self.actors.values()))

    async def restore(self) -> int:
        """Recreate the policy and the actors from the newest checkpoint; returns the next generation."""
        ckpt = load_checkpoint(self.run_dir)
        states = [
            SpeciesState(sp["species_id"], sp["key"], sp["generation"], sp["networks"]) for sp in ckpt["species"]
        ]
        self.policy = EcosystemPolicy.from_json(
            ckpt["coordinator"], self.cfg.ecosystem, self.seed, self.cfg.mutation, states, ckpt["generation"]
        )
        for st in states:
            self.actors[st.species_id] = self._spawn(st.species_id, st.key)
        await asyncio.gather(*(self.actors[st.species_id].restore.remote(st) for st in states))
        done = {sid: sp.generation for sid, sp in self.policy.species.items()}
        self.logs.truncate_after(ckpt["generation"], done)
        return ckpt["generation"] + 1

    # ---- one step: reproduce, place, cull, log ------------------------------------------------
    async def _train(self, sid: int, generation: int) -> dict[str, Any]:
        return await self.actors[sid].train.remote(generation)

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
        for s, offspring in zip(ids, born):
            await self._place(generation, s, offspring)
        if protect is not None:
            protect = set(protect) | set(ids)
        culled = await self._cull(generation, protect)
        return culled, orders

    async def _place(self, generation: int, parent: int, offspring: list[Offspring]) -> None:
        """Carry out the policy's placement of one species' offspring."""
        placement = self.policy.place(generation, parent, offspring)
        for sid in placement.founded:
            await self._start_actor(sid)
            log.info("species %d founded (key %s)", sid, self.policy.species[sid].key)
        for target, recs in placement.moves.items():
            await self.actors[target].add.remote(recs)
        if placement.returned:
            await self.actors[parent].add.remote(placement.returned)

    async def _cull(self, generation: int, protect: Collection[int] | None) -> set[int]:
        """Eq. 9 culling over the whole ecosystem until the size limit holds (§III-G)."""
        sids = sorted(self.actors)
        per = await asyncio.gather(*(self.actors[s].cull_candidates.remote(generation) for s in sids))
        removal = self.policy.cull(generation, [c for cands in per for c in cands], protect)
        sizes = await asyncio.gather(*(self.actors[s].remove.remote(ids) for s, ids in removal.items()))
        for s, n in zip(removal, sizes):
            if n == 0:
                await self._retire(s)
        return {i for ids in removal.values() for i in ids}

    def _log(self, generation: int, results: Mapping[int, Mapping[str, Any]], culled: set[int], orders: Mapping[int, int]) -> None:
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
        """Keep the generation champion's weights; crown and save it if it beats the best ever."""
        top = self.policy.best_of(rows)
        if top is None:
            return
        rec: NetworkRecord | None = None
        sid = top["species_id"]
        if sid in self.actors:
            rec = await self.actors[sid].get_network.remote(top["network_id"])
        if rec is None:  # moved or culled meanwhile: search
            for a in self.actors.values():
                rec = await a.get_network.remote(top["network_id"])
                if rec is not None:
                    break
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
        sizes = await self._sizes()
        row = self.policy.generation_row(generation, len(self.actors), int(sum(sizes.values())), time.time())
        self.logs.write_generation(row)
        await self._checkpoint(generation)
        for rep in self.reporters:
            rep.on_generation(row)
        if not self.actors:
            raise ExtinctionError(
                f"the ecosystem went extinct in generation {generation}; logs and the best network are in {self.run_dir}"
            )

    async def _checkpoint(self, generation: int) -> None:
        sids = sorted(self.actors)
        states: list[SpeciesState] = await asyncio.gather(*(self.actors[s].snapshot.remote() for s in sids))
        species = [
            {"species_id": st.species_id, "key": st.key, "generation": st.generation, "networks": st.networks}
            for st in states
        ]
        save_checkpoint(self.run_dir, generation, self.policy.to_json(), species, keep=self.cfg.run.checkpoint_keep)

    # ---- the two modes -------------------------------------------------------------------------
    async def _run_sync(self, start: int, generations: int) -> None:
        for g in range(start, generations):
            for rep in self.reporters:
                rep.on_phase(g, "training", await self._count())
            tally = self.policy.tally(g, time.time())
            sids = sorted(self.actors)
            results = dict(zip(sids, await asyncio.gather(*(self._train(s, g) for s in sids))))
            t_train = time.time()
            tally.phases["train_phase_s"] = t_train - tally.started
            for rep in self.reporters:
                rep.on_phase(g, "evolving", 0)
            culled, orders = await self._evolve(g, results, None)
            tally.phases["evolve_phase_s"] = time.time() - t_train
            self._log(g, results, culled, orders)
            await asyncio.gather(*(a.commit.remote() for a in self.actors.values()))
            await self._update_champion([row for s in sids for row in results[s]["rows"]], g)
            await self._finish_generation(g)

    async def _species_loop(self, sid: int, generations: int) -> None:
        while sid in self.actors:
            g = self.policy.species[sid].generation + 1
            if g >= generations:
                return
            self.policy.tally(g, time.time())  # starts the generation's clock
            result = await self._train(sid, g)
            async with self.lock:
                if sid not in self.actors:
                    return
                before = set(self.actors)
                culled, orders = await self._evolve(g, {sid: result}, {sid})
                self._log(g, {sid: result}, culled, orders)
                if sid in self.actors:
                    await self.actors[sid].commit.remote()
                await self._update_champion(result["rows"], g)
                for new in sorted(set(self.actors) - before):
                    self._tasks.append(asyncio.ensure_future(self._species_loop(new, generations)))
                await self._finish_complete_generations(generations)

    async def _finish_complete_generations(self, generations: int) -> None:
        p = self.policy
        while p.completed_generation + 1 < generations and p.generation_complete(p.completed_generation + 1):
            await self._finish_generation(p.completed_generation + 1)

    async def _run_async(self, start: int, generations: int) -> None:
        self._tasks = [asyncio.ensure_future(self._species_loop(s, generations)) for s in sorted(self.actors)]
        while self._tasks:
            task = self._tasks.pop(0)
            await task
        async with self.lock:
            await self._finish_complete_generations(generations)

    async def run(self, resume: bool = False) -> dict[str, Any]:
        """Run (or resume) to ``run.generations``; returns the best network's summary.

        Returns:
            ``{"id", "fitness", "generation", "parameters"}`` of the champion (``id`` ``None`` if none).

        Raises:
            ExtinctionError: no network left (logs and the champion are saved first).
        """
        if resume:
            start = await self.restore()
        else:
            await self.initialise()
            start = 0
        generations = self.cfg.run.generations
        for rep in self.reporters:
            rep.on_start(start, generations)
        if self.cfg.run.mode == "sync":
            await self._run_sync(start, generations)
        else:
            await self._run_async(start, generations)
        return self.policy.champion.to_json()

    async def shutdown(self) -> None:
        """Kill every species actor (and the spare)."""
        for sid in list(self.actors):
            ray.kill(self.actors.pop(sid))
        if self._spare is not None:
            ray.kill(self._spare)
            self._spare = None


__all__ = ["Ecosystem", "Reporter", "allocate"]
