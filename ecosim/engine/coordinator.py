"""The asyncio ecosystem coordinator (driver side): species limits, ecosystem limit, logs, checkpoints.

Paper §III-A to §III-G. The coordinator creates and retires species actors, allocates offspring,
places offspring whose genome left its species, runs culling (eq. 9) over the whole ecosystem,
and writes the Arrow logs, the champion and a checkpoint after every generation.

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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import ray

from ecosim.config import Config
from ecosim.engine.species import SpeciesActor
from ecosim.errors import EcosimError, ExtinctionError
from ecosim.evolution.culling import cull
from ecosim.evolution.population import (
    SPECIES_STREAM_BASE,
    NetworkRecord,
    Offspring,
    ReproductionPolicy,
    SpeciesKey,
)
from ecosim.genome import Genome, init_weights, mutate
from ecosim.phenotype.records import DataArrays, TrainSettings
from ecosim.rng import derive_rng
from ecosim.store.checkpoint import load_checkpoint, save_checkpoint
from ecosim.store.logs import LogWriter, empty_counts, read_networks
from ecosim.store.networks import save_network
from ecosim.store.rundir import RunDir

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Hooks the coordinator calls (the CLI's progress display implements them)."""

    def on_start(self, start_generation: int, generations: int) -> None: ...

    def on_phase(self, generation: int, phase: str, in_flight: int) -> None: ...

    def on_generation(self, row: dict[str, Any]) -> None: ...


@dataclass
class _GenerationTally:
    rows: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=empty_counts)
    species_done: set[int] = field(default_factory=set)
    started: float = field(default_factory=time.time)
    task_time_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "species_done": sorted(self.species_done),
            "started": self.started,
            "task_time_s": self.task_time_s,
        }


def allocate(total: int, shares: dict[int, float]) -> dict[int, int]:
    """Split ``total`` offspring over species by ``shares`` (largest remainder, ties by id)."""
    if not shares or total <= 0:
        return {k: 0 for k in shares}
    keys = sorted(shares)
    w = np.array([max(0.0, shares[k]) for k in keys], dtype=np.float64)
    w = np.ones_like(w) if w.sum() <= 0 else w
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    rest = total - int(base.sum())
    order = sorted(range(len(keys)), key=lambda i: (-(exact[i] - base[i]), keys[i]))
    for i in order[:rest]:
        base[i] += 1
    return {k: int(b) for k, b in zip(keys, base)}


class Ecosystem:
    """Drives one run: ``await Ecosystem(...).run()``.

    Args:
        config: the resolved configuration.
        run_dir: the run directory (logs, checkpoints, champion).
        data: dataset arrays (put into Ray's object store once).
        input_shape: ``(C, H, W)``; classes: number of classes.
        reporters: progress hooks.
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
        self.policy = ReproductionPolicy(
            speciation=config.ecosystem.speciation,
            crossover_rate=config.ecosystem.crossover_rate,
            mutation=config.mutation,
        )
        self.actors: dict[int, Any] = {}
        self.keys: dict[int, SpeciesKey | None] = {}
        self.species_gen: dict[int, int] = {}
        self.next_network_id = 0
        self.next_species_id = 0
        self.best: dict[str, Any] = {"id": None, "fitness": -1.0, "generation": None, "parameters": None}
        self.completed_generation = -1
        self.tallies: dict[int, _GenerationTally] = defaultdict(_GenerationTally)
        self.lock = asyncio.Lock()
        self._species_first: dict[int, int] = {}
        self._tasks: list[asyncio.Future] = []
        self._spare: Any = None

    # ---- species management -----------------------------------------------------------------
    def _spawn(self, sid: int, key: SpeciesKey | None) -> Any:
        return SpeciesActor.remote(  # type: ignore[attr-defined]
            sid, key, self.seed, self.policy, [self.data_ref], self.settings, self.task_options, self.cfg.resources.task_timeout
        )

    async def _new_actor(self, key: SpeciesKey | None, first_generation: int) -> int:
        """A species actor for a new species; with speciation a pre-started spare takes the role
        (a new actor process costs about a second), and the next spare starts in the background."""
        sid = self.next_species_id
        self.next_species_id += 1
        if self._spare is not None:
            actor, self._spare = self._spare, None
            await actor.assign.remote(sid, key)  # async actors do not order calls: wait for it
        else:
            actor = self._spawn(sid, key)
        self.actors[sid] = actor
        if self.cfg.ecosystem.speciation and len(self.actors) < self.cfg.ecosystem.max_species:
            self._spare = self._spawn(-1, None)
        self.keys[sid] = key
        self.species_gen[sid] = first_generation - 1
        self._species_first[sid] = first_generation
        return sid

    async def _retire(self, sid: int) -> None:
        actor = self.actors.pop(sid)
        self.keys.pop(sid, None)
        self.species_gen.pop(sid, None)
        ray.kill(actor)

    def _known_keys(self) -> dict[SpeciesKey, int]:
        return {k: s for s, k in self.keys.items() if k is not None}

    def _free_slots(self) -> int:
        return max(0, self.cfg.ecosystem.max_species - len(self.actors)) if self.cfg.ecosystem.speciation else 0

    # ---- initialisation (§III-A) ------------------------------------------------------------
    def _initial_networks(self) -> list[tuple[SpeciesKey | None, list[NetworkRecord]]]:
        e, m = self.cfg.ecosystem, self.policy.mutation
        minimal = Genome.minimal(self.input_shape, self.classes)
        groups: list[tuple[SpeciesKey | None, list[NetworkRecord]]] = []
        if e.speciation:
            genomes = [minimal]
            rng = derive_rng(self.seed, 0, SPECIES_STREAM_BASE, "init")
            keys = {minimal.species_key}
            while len(genomes) < e.species:
                g, w = minimal, init_weights(minimal, rng, m.init_std)
                for _ in range(10_000):
                    r = mutate(g, w, rng, m)
                    if r.ok:
                        assert r.genome is not None and r.weights is not None
                        g, w = r.genome, r.weights
                        if g.species_key not in keys:
                            break
                else:
                    raise EcosimError(f"could not create {e.species} distinct initial species (ecosystem.species)")
                keys.add(g.species_key)
                genomes.append(g)
            sizes = [e.population // e.species + (1 if i < e.population % e.species else 0) for i in range(e.species)]
            for g, n in zip(genomes, sizes):
                recs = []
                for _ in range(n):
                    nid = self._take_id()
                    w = init_weights(g, derive_rng(self.seed, 0, nid, "init"), m.init_std)
                    recs.append(NetworkRecord(id=nid, species_id=-1, genome=g, weights=w))
                groups.append((g.species_key, recs))
        else:
            recs = []
            for _ in range(e.population):
                nid = self._take_id()
                rng = derive_rng(self.seed, 0, nid, "init")
                g, w = minimal, init_weights(minimal, rng, m.init_std)
                r = mutate(g, w, rng, m)
                if r.ok:
                    assert r.genome is not None and r.weights is not None
                    g, w = r.genome, r.weights
                recs.append(NetworkRecord(id=nid, species_id=0, genome=g, weights=w, mutation=r.kind.value if r.ok else None))
            groups.append((None, recs))
        return groups

    def _take_id(self) -> int:
        nid = self.next_network_id
        self.next_network_id += 1
        return nid

    async def initialise(self) -> None:
        """Create the initial species actors and networks (§III-A)."""
        for key, recs in self._initial_networks():
            sid = await self._new_actor(key, 0)
            await self.actors[sid].add.remote(recs)
        await asyncio.gather(*(a.commit.remote() for a in self.actors.values()))

    async def restore(self) -> int:
        """Recreate actors from the newest checkpoint; returns the next generation to run."""
        ckpt = load_checkpoint(self.run_dir)
        c = ckpt["coordinator"]
        self.next_network_id = c["next_network_id"]
        self.next_species_id = c["next_species_id"]
        self.best = c["best"]
        self.completed_generation = ckpt["generation"]
        for sp in ckpt["species"]:
            sid = sp["species_id"]
            self.actors[sid] = SpeciesActor.remote(  # type: ignore[attr-defined]
                sid, sp["key"], self.seed, self.policy, [self.data_ref], self.settings, self.task_options,
                self.cfg.resources.task_timeout,
            )
            self.keys[sid] = sp["key"]
            self.species_gen[sid] = sp["generation"]
            await self.actors[sid].restore.remote(
                {"species_id": sid, "key": sp["key"], "generation": sp["generation"], "networks": sp["networks"]}
            )
        self._species_first = {int(k): v for k, v in c.get("species_first", {}).items()}
        species_gen = {int(k): v for k, v in c.get("species_gen", {}).items()}
        self.logs.truncate_after(self.completed_generation, species_gen)
        # async: generations begun but not complete are rebuilt from their rows on disk
        pending = {int(g): t for g, t in c.get("tallies", {}).items()}
        if pending:
            rows = read_networks(self.run_dir)
            rows = rows[rows["generation"] > self.completed_generation]
            for g, t in pending.items():
                tally = self.tallies[g]
                tally.counts = dict(t["counts"])
                tally.species_done = set(t["species_done"])
                tally.started = t["started"]
                tally.task_time_s = t["task_time_s"]
                sel = rows[rows["generation"] == g]
                tally.rows = [
                    {k: (list(v) if k == "parent_ids" else (None if _isnan(v) else v)) for k, v in r.items()}
                    for r in sel.to_dict("records")
                ]
        return self.completed_generation + 1

    # ---- one species step ----------------------------------------------------------------------
    async def _train(self, sid: int, generation: int) -> dict[str, Any]:
        return await self.actors[sid].train.remote(generation)

    async def _evolve(self, sid: int, generation: int, result: dict[str, Any], quota: int) -> None:
        """Reproduction of one species and placement of its offspring (§III-D, §III-F)."""
        tally = self.tallies[generation]
        tally.task_time_s += result["task_time_s"]
        ids = [self._take_id() for _ in range(quota)]
        offspring: list[Offspring] = await self.actors[sid].reproduce.remote(
            generation, ids, self._known_keys(), self._free_slots()
        )
        await self._place(sid, generation, offspring, tally.counts)

    def _log_species(self, sid: int, generation: int, rows: list[dict[str, Any]], culled: set[int]) -> None:
        tally = self.tallies[generation]
        for r in rows:
            r["culled"] = r["network_id"] in culled
            if r["status"] == "diverged":
                tally.counts["diverged"] += 1
            elif r["status"] == "error":
                tally.counts["errors"] += 1
        if rows:
            self.logs.write_networks(generation, sid, rows)
        tally.rows.extend(rows)
        tally.species_done.add(sid)
        if sid in self.actors:
            self.species_gen[sid] = generation

    async def _place(self, parent_sid: int, generation: int, offspring: list[Offspring], counts: dict[str, int]) -> None:
        parent_key = self.keys.get(parent_sid)
        moves: dict[int, list[NetworkRecord]] = defaultdict(list)
        for o in offspring:
            counts["offspring"] += 1
            origin = o.record.origin
            if origin == "crossover":
                counts["crossovers"] += 1
            elif origin == "clone":
                counts["clones"] += 1
            elif origin == "mutation" and o.record.mutation:
                counts[f"mutations_{o.record.mutation}"] += 1
            for f in o.failed:
                counts["failed_species_limit" if f == "species_limit" else f"failed_{f}"] += 1
            if not self.cfg.ecosystem.speciation or o.key == parent_key:
                continue
            target = self._known_keys().get(o.key)
            if target is None:
                if self._free_slots() <= 0:  # async race: the slot went meanwhile
                    counts["failed_species_limit"] += 1
                    continue
                target = await self._new_actor(o.key, generation + 1)
                log.info("species %d founded by network %d (key %s)", target, o.record.id, o.key)
            moves[target].append(o.record)
        for target, recs in moves.items():
            await self.actors[target].add.remote(recs)

    async def _sizes(self) -> dict[int, int]:
        sizes = await asyncio.gather(*(a.size.remote() for a in self.actors.values()))
        return dict(zip(self.actors.keys(), sizes))

    async def _cull(self, generation: int, counts: dict[str, int], stepping: int | None = None) -> set[int]:
        """Eq. 9 culling over the whole ecosystem until the size limit holds (§III-G).

        ``stepping``: in asynchronous mode, the species whose step this is; only its offspring
        are protected (other species' untrained offspring have eq. 9 weight 0 and go last).
        """
        sids = sorted(self.actors)
        cands_per = await asyncio.gather(
            *(self.actors[s].cull_candidates.remote(generation, stepping is None or s == stepping) for s in sids)
        )
        cands = [c for per in cands_per for c in per]
        excess = len(cands) - self.cfg.ecosystem.max_population
        removed: set[int] = set()
        if excess > 0:
            cands.sort(key=lambda c: c["id"])
            rng = derive_rng(self.seed, generation, SPECIES_STREAM_BASE + len(self.tallies[generation].species_done), "culling")
            idx = cull(
                rng,
                [c["age"] for c in cands],
                [c["relative_fitness"] for c in cands],
                [c["relative_complexity"] for c in cands],
                [c["protected"] for c in cands],
                excess,
            )
            by_species: dict[int, list[int]] = defaultdict(list)
            for i in idx:
                by_species[cands[i]["species_id"]].append(cands[i]["id"])
                removed.add(cands[i]["id"])
            sizes = await asyncio.gather(*(self.actors[s].remove.remote(ids) for s, ids in by_species.items()))
            counts["culled"] += len(removed)
            for s, n in zip(list(by_species), sizes):
                if n == 0:
                    await self._retire(s)
        return removed

    async def _update_champion(self, rows: list[dict[str, Any]], generation: int) -> None:
        ok = [r for r in rows if r["status"] == "ok" and r["fitness"] is not None]
        if not ok:
            return
        top = max(ok, key=lambda r: (r["fitness"], -r["network_id"]))
        if top["fitness"] <= self.best["fitness"]:
            return
        rec = None
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
        self.best = {"id": rec.id, "fitness": float(top["fitness"]), "generation": generation, "parameters": rec.parameters}
        save_network(
            RunDir(self.run_dir).champion,
            rec.genome,
            rec.weights,
            {
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
            },
        )

    # ---- generation rows and checkpoints ------------------------------------------------------
    def _generation_complete(self, generation: int) -> bool:
        done = self.tallies[generation].species_done
        return all(
            sid in done or self.species_gen.get(sid, -1) >= generation or self._species_first.get(sid, 0) > generation
            for sid in self.actors
        )

    async def _finish_generation(self, generation: int) -> None:
        tally = self.tallies.pop(generation)
        rows = tally.rows
        fit = [r["fitness"] for r in rows if r["fitness"] is not None]
        before = [r["fitness_before_bp"] for r in rows if r["fitness_before_bp"] is not None and r["origin"] != "initial"]
        tests = [r["test_accuracy"] for r in rows if r["test_accuracy"] is not None]
        champ = max(rows, key=lambda r: (r["fitness"] or 0.0, -r["network_id"])) if rows else None
        sizes = await self._sizes()
        row = {
            "generation": generation,
            "highest_fitness": max(fit) if fit else None,
            "mean_fitness": float(np.mean(fit)) if fit else None,
            "best_fitness_so_far": self.best["fitness"] if self.best["id"] is not None else None,
            "mean_offspring_fitness_before_bp": float(np.mean(before)) if before else None,
            "mean_test_accuracy": float(np.mean(tests)) if tests else None,
            "species_count": len(self.actors),
            "network_count": int(sum(sizes.values())),
            "networks_evaluated": len(rows),
            "champion_id": champ["network_id"] if champ else None,
            "champion_parameters": champ["parameters"] if champ else None,
            "champion_fitness": champ["fitness"] if champ else None,
            "mean_parameters": float(np.mean([r["parameters"] for r in rows])) if rows else None,
            **tally.counts,
            "wall_time_s": time.time() - tally.started,
            "task_time_s": tally.task_time_s,
            **tally.phases,
        }
        self.logs.write_generation(row)
        self.completed_generation = generation
        await self._checkpoint(generation)
        for rep in self.reporters:
            rep.on_generation(row)
        if not self.actors:
            raise ExtinctionError(
                f"the ecosystem went extinct in generation {generation}; logs and the best network are in {self.run_dir}"
            )

    async def _checkpoint(self, generation: int) -> None:
        sids = sorted(self.actors)
        snaps = await asyncio.gather(*(self.actors[s].snapshot.remote() for s in sids))
        species = [
            {"species_id": s, "key": self.keys[s], "generation": snap["generation"], "networks": snap["networks"]}
            for s, snap in zip(sids, snaps)
        ]
        coordinator = {
            "next_network_id": self.next_network_id,
            "next_species_id": self.next_species_id,
            "best": self.best,
            "species_gen": {str(s): self.species_gen[s] for s in sids},
            "species_first": {str(s): self._species_first.get(s, 0) for s in sids},
            "tallies": {str(g): t.to_json() for g, t in self.tallies.items() if g > generation},
        }
        save_checkpoint(self.run_dir, generation, coordinator, species, keep=self.cfg.run.checkpoint_keep)

    # ---- the two modes -------------------------------------------------------------------------
    async def _run_sync(self, start: int, generations: int) -> None:
        for g in range(start, generations):
            for rep in self.reporters:
                rep.on_phase(g, "training", await self._count())
            self.tallies[g].started = time.time()
            sids = sorted(self.actors)
            results = await asyncio.gather(*(self._train(s, g) for s in sids))
            t_train = time.time()
            self.tallies[g].phases["train_phase_s"] = t_train - self.tallies[g].started
            for rep in self.reporters:
                rep.on_phase(g, "evolving", 0)
            quotas = allocate(self.cfg.ecosystem.offspring, {s: r["mean_fitness"] for s, r in zip(sids, results)})
            for s, r in zip(sids, results):
                await self._evolve(s, g, r, quotas[s])
            culled = await self._cull(g, self.tallies[g].counts)
            self.tallies[g].phases["evolve_phase_s"] = time.time() - t_train
            for s, r in zip(sids, results):
                self._log_species(s, g, r["rows"], culled)
            await asyncio.gather(*(a.commit.remote() for a in self.actors.values()))
            for s in self.actors:
                self.species_gen[s] = g
            await self._update_champion([row for r in results for row in r["rows"]], g)
            await self._finish_generation(g)

    async def _count(self) -> int:
        return int(sum((await self._sizes()).values()))

    async def _species_loop(self, sid: int, generations: int) -> None:
        while sid in self.actors:
            g = self.species_gen[sid] + 1
            if g >= generations:
                return
            self.tallies[g]  # starts the generation's clock
            result = await self._train(sid, g)
            async with self.lock:
                if sid not in self.actors:
                    return
                before = set(self.actors)
                sizes = await self._sizes()
                quota = int(round(self.cfg.ecosystem.offspring * sizes.get(sid, 0) / max(1, sum(sizes.values()))))
                await self._evolve(sid, g, result, quota)
                culled = await self._cull(g, self.tallies[g].counts, stepping=sid)
                self._log_species(sid, g, result["rows"], culled)
                if sid in self.actors:
                    await self.actors[sid].commit.remote()
                await self._update_champion(result["rows"], g)
                for new in set(self.actors) - before:
                    self._tasks.append(asyncio.ensure_future(self._species_loop(new, generations)))
                while self.completed_generation + 1 < generations and self._generation_complete(
                    self.completed_generation + 1
                ):
                    await self._finish_generation(self.completed_generation + 1)

    async def _run_async(self, start: int, generations: int) -> None:
        self._tasks = [asyncio.ensure_future(self._species_loop(s, generations)) for s in sorted(self.actors)]
        while self._tasks:
            task = self._tasks.pop(0)
            await task
        async with self.lock:
            while self.completed_generation + 1 < generations and self._generation_complete(self.completed_generation + 1):
                await self._finish_generation(self.completed_generation + 1)

    async def run(self, resume: bool = False) -> dict[str, Any]:
        """Run (or resume) to ``run.generations``; returns the best network's summary.

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
        return dict(self.best)

    async def shutdown(self) -> None:
        """Kill every species actor (and the spare)."""
        for sid in list(self.actors):
            await self._retire(sid)
        if self._spare is not None:
            ray.kill(self._spare)
            self._spare = None


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


__all__ = ["Ecosystem", "Reporter", "allocate"]
