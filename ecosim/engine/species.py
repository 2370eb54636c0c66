"""Each species is a Ray actor that owns its population, its training and its culling (§III).

The actor is a thin asynchronous wrapper around the Ray-free :class:`~ecosim.evolution.population.Population`:
it launches one Ray task per network, awaits them, applies the results and calibrates; it
reproduces and removes networks when the coordinator tells it to.

Recovery (``docs/cluster.md``): the actor keeps its *committed* state (the one a checkpoint
holds) apart from its working state; :meth:`SpeciesActor.commit` returns it, so the coordinator
keeps a copy and can re-create a lost actor from it (:meth:`SpeciesActor.restore`). Training is
idempotent per generation: after a restore to the state it trained from, ``train(g)`` returns
the same result again without running a task, so a redone step costs only the lost species'
training.

Progress (issue 19): each training task reports its start (:meth:`SpeciesActor.task_started`)
and the actor sees it finish; :meth:`SpeciesActor.progress` tells the coordinator's no-progress
watchdog how many tasks wait, run, and how long the longest took.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from ecosim.engine.tasks import DataHandle, train_network_task
from ecosim.evolution.generation_rows import network_row
from ecosim.evolution.population import MESSAGE_LIMIT, Population, ReproductionPolicy
from ecosim.evolution.records import (
    CullCandidate,
    NetworkRecord,
    Offspring,
    SpeciesKey,
    SpeciesState,
    Status,
)
from ecosim.evolution.scheduling import Workload, costs_of, longest_first
from ecosim.phenotype.records import TrainingParams, TrainResult
from ecosim.rng import derive_rng


@ray.remote(num_cpus=0)
class SpeciesActor:
    """Ray actor owning one species.

    Args:
        species_id, key, seed, policy: see :class:`Population`.
        data: the dataset's :class:`~ecosim.engine.tasks.DataHandle` (the actor never reads it).
        training: the ``[training]`` section, for the tasks (paper §III-B).
        task_options: Ray options of each task (``num_cpus``, ``num_gpus``, ``max_retries``).
        task_timeout: seconds before a task is cancelled and recorded as an error (0 = none).
    """

    def __init__(
        self,
        species_id: int,
        key: SpeciesKey | None,
        seed: int,
        policy: ReproductionPolicy,
        data: DataHandle,
        training: TrainingParams,
        task_options: Mapping[str, Any],
        task_timeout: float = 0.0,
    ) -> None:
        self.pop = Population(species_id, key, seed, policy)
        self.data = data
        self.training = training
        self.task_options = dict(task_options)
        self.task_timeout = task_timeout
        self.committed: SpeciesState = self.pop.snapshot()
        self._trained: _Trained | None = None  # the last training of this generation, for a redone step
        self._progress = _Progress()

    # ---- membership -------------------------------------------------------------------------
    def assign(self, species_id: int, key: SpeciesKey | None) -> int:
        """Give a pre-started, empty actor its species (the coordinator keeps one spare)."""
        self.pop.species_id, self.pop.key = species_id, key
        self.committed = self.pop.snapshot()
        return species_id

    def add(self, records: Sequence[NetworkRecord]) -> int:
        """Adopt networks (they join the committed state too); returns the species size."""
        self.pop.add(records)
        nets = {**self.committed.networks, **{r.id: self.pop.networks[r.id] for r in records}}
        self.committed = dataclasses.replace(self.committed, networks=nets)
        return len(self.pop)

    def remove(self, ids: Sequence[int]) -> int:
        """Remove networks (culling; from the committed state too); returns the species size."""
        self.pop.remove(ids)
        gone = set(ids)
        nets = {i: r for i, r in self.committed.networks.items() if i not in gone}
        self.committed = dataclasses.replace(self.committed, networks=nets)
        return len(self.pop)

    def size(self) -> int:
        """Number of networks."""
        return len(self.pop)

    def get_network(self, network_id: int) -> NetworkRecord | None:
        """One network record (weights included), or ``None``."""
        return self.pop.networks.get(network_id)

    # ---- one generation ---------------------------------------------------------------------
    async def _run_one(
        self, rec: NetworkRecord, generation: int, lr_scale: float = 1.0
    ) -> tuple[int, dict[str, Any], float]:
        seed = int(derive_rng(self.pop.seed, generation, rec.id, "training").integers(0, 2**63 - 1))
        evaluate_before = rec.fitness is None  # untrained: score before BP too
        t0 = time.perf_counter()
        tag = (generation, rec.id)
        self._progress.submitted(tag)
        me = ray.get_runtime_context().current_actor
        weights = [ray.put(rec.weights)]  # fetched by the task itself: no task argument is pinned (issue 19)
        ref = train_network_task.options(**self.task_options).remote(
            self.data, rec.genome, weights, self.training, seed, evaluate_before, (me, tag), lr_scale
        )
        try:
            if self.task_timeout > 0:
                res = await asyncio.wait_for(ref, self.task_timeout)
            else:
                res = await ref
        except asyncio.TimeoutError:
            ray.cancel(ref, force=True)
            return rec.id, self._failure(rec, f"task timed out after {self.task_timeout} s"), time.perf_counter() - t0
        except ray.exceptions.RayError as exc:  # worker lost beyond retries, task cancelled, ...
            return rec.id, self._failure(rec, f"{type(exc).__name__}: {exc}"), time.perf_counter() - t0
        finally:
            self._progress.finished(tag)
        upd = {
            "weights": res.weights,
            "age": rec.age + 1,
            "fitness": float(res.fitness),
            "test_accuracy": res.test_accuracy,
            "train_loss": res.train_loss,
            "train_time_s": res.train_time_s,
            "eval_time_s": res.eval_time_s,
            "train_images": res.train_images,
            "eval_images": res.eval_images,
            "status": Status(res.status),
            "message": _message(res),
        }
        if evaluate_before:
            upd["fitness_before_bp"] = res.fitness_before_bp
        return rec.id, upd, time.perf_counter() - t0

    def task_started(self, tag: tuple[int, int]) -> None:
        """A training task reports that it started (``(generation, network id)``; see :meth:`progress`)."""
        self._progress.started(tag)

    def progress(self) -> dict[str, Any]:
        """This actor's training tasks, for the coordinator's no-progress watchdog (issue 19).

        Returns:
            ``{"waiting": tasks submitted and not started, "running": started and not finished,
            "events": starts and finishes so far (grows with each), "slowest_s": the longest
            start-to-finish time of a task so far (s), "generation": the generation of the
            waiting tasks, or ``None``}``.
        """
        return self._progress.summary()

    @staticmethod
    def _failure(rec: NetworkRecord, message: str) -> dict[str, Any]:
        return {
            "age": rec.age + 1,
            "fitness": 0.0,
            "test_accuracy": 0.0,
            "status": Status.ERROR,
            "message": message[:MESSAGE_LIMIT],
            "train_images": 0,
            "eval_images": 0,
        }

    async def train(self, generation: int, workload: Workload | None = None, lr_scale: float = 1.0) -> dict[str, Any]:
        """Train and score every network (one Ray task each), then calibrate (§III-B, §III-C).

        The tasks are submitted longest first (``workload``: the images a task handles, for the
        predicted cost, :mod:`ecosim.evolution.scheduling`; ``None``: in id order). ``lr_scale``:
        the factor on the learning rate the ecosystem chose for this generation
        (:meth:`~ecosim.evolution.ecosystem.EcosystemPolicy.learning_rate_scale`).

        Idempotent: called again for the same generation after :meth:`restore` put back the
        state it trained from (the coordinator redoing a step after losing another actor), it
        returns the same result and state without training again.

        Returns:
            ``{"rows": [...], "task_time_s": float, "can_reproduce": bool, "node_id": str,
            "pid": int}``: one networks-log row per network trained (``docs/logs.md``), the
            compute time inside the tasks (s), whether a network is left that can be a parent,
            and where this actor runs (the Ray node id and its process id).
        """
        memo = self._trained
        if memo is not None and memo.reusable(generation, self.pop):
            self.pop.restore(memo.state)
            return memo.result
        base_generation = self.pop.generation
        recs = self.pop.sorted()
        born = {r.id: r.fitness is None for r in recs}
        if workload is not None:  # longest first: Ray runs an owner's tasks in submission order
            costs = costs_of({r.id: (r.genome, not born[r.id]) for r in recs}, workload)
            recs = [self.pop.networks[i] for i in longest_first(costs)]
        results = await asyncio.gather(*(self._run_one(r, generation, lr_scale) for r in recs))
        self.pop.apply({i: upd for i, upd, _ in results})
        self.pop.calibrate()
        self.pop.generation = generation
        rows = []
        for r in self.pop.sorted():
            if r.id not in born:
                continue  # a migrant that arrived during training
            rows.append(network_row(generation, r, self.pop.species_id, born[r.id], lr_scale))
        result = {
            "rows": rows,
            # compute time inside the tasks (not queueing): the engine benchmark's denominator
            "task_time_s": float(sum(u.get("train_time_s", 0.0) + u.get("eval_time_s", 0.0) for _, u, _ in results)),
            "can_reproduce": self.pop.can_reproduce(),
            **self.where(),
        }
        self._trained = _Trained(generation, base_generation, self.pop.snapshot(), result)
        return result

    @staticmethod
    def where() -> dict[str, Any]:
        """``{"node_id": Ray node id (hex), "pid": process id}`` of this actor (for the events log)."""
        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    def reproduce(self, generation: int, ids: Sequence[int]) -> list[Offspring]:
        """Create offspring (see :meth:`Population.reproduce`); those that keep this species' key are adopted.

        The others (and error records) come back to the coordinator, which asks the ecosystem
        policy where they go.
        """
        offspring = self.pop.reproduce(generation, ids)
        mine = [o.record for o in offspring if o.key == self.pop.key and o.record.status != Status.ERROR]
        self.pop.add(mine)
        return offspring

    def cull_candidates(self, generation: int) -> list[CullCandidate]:
        """Eq. 9 inputs of every network, with the facts protection depends on (offspring, champion)."""
        return self.pop.cull_candidates(generation)

    # ---- checkpoint state -------------------------------------------------------------------
    def commit(self) -> SpeciesState:
        """Mark the current state as the one a checkpoint holds, and return it.

        The coordinator keeps the returned state: it is what a lost actor is re-created from.
        """
        self.committed = self.pop.snapshot()
        self._trained = None
        return self.committed

    def snapshot(self) -> SpeciesState:
        """The last committed state (records with weights)."""
        return self.committed

    def restore(self, state: SpeciesState) -> int:
        """Load a committed state (a checkpoint's, or the coordinator's copy); returns the species size.

        The last training result is kept: :meth:`train` reuses it when the state restored is the
        one it trained from.
        """
        self.pop.restore(state)
        self.committed = self.pop.snapshot()
        return len(self.pop)


class _Progress:
    """Which training tasks of an actor wait, run or finished, and the slowest so far (issue 19).

    A retried task may report its start twice, and a start may arrive after the result: both
    count as one more event and change nothing else.
    """

    def __init__(self) -> None:
        self.waiting: set[tuple[int, int]] = set()
        self.running: dict[tuple[int, int], float] = {}
        self.events = 0
        self.slowest_s = 0.0

    def submitted(self, tag: tuple[int, int]) -> None:
        self.waiting.add(tag)

    def started(self, tag: tuple[int, int]) -> None:
        self.events += 1
        if tag in self.waiting:
            self.waiting.discard(tag)
            self.running[tag] = time.monotonic()

    def finished(self, tag: tuple[int, int]) -> None:
        self.events += 1
        self.waiting.discard(tag)
        begun = self.running.pop(tag, None)
        if begun is not None:
            self.slowest_s = max(self.slowest_s, time.monotonic() - begun)

    def summary(self) -> dict[str, Any]:
        return {
            "waiting": len(self.waiting),
            "running": len(self.running),
            "events": self.events,
            "slowest_s": self.slowest_s,
            "generation": min((g for g, _ in self.waiting | set(self.running)), default=None),
        }


@dataclasses.dataclass(frozen=True)
class _Trained:
    """One training of a species: what :meth:`SpeciesActor.train` reuses for a redone step.

    Attributes:
        generation: the generation trained. base_generation: the population's generation before.
        state: the population right after training and calibration. result: what ``train`` returned.
    """

    generation: int
    base_generation: int
    state: SpeciesState
    result: dict[str, Any]

    def reusable(self, generation: int, pop: Population) -> bool:
        """Whether ``pop`` is back where this training started (same generation, same networks)."""
        return (
            generation == self.generation
            and pop.generation == self.base_generation
            and set(pop.networks) == set(self.state.networks)
        )


def _message(res: TrainResult) -> str:
    """A result's message with the traceback of a failure appended (the networks log's ``message``)."""
    tb = res.extra.get("traceback") if res.extra else None
    text = f"{res.message}\n{tb}" if tb else res.message
    return text[:MESSAGE_LIMIT]


__all__ = ["SpeciesActor"]
