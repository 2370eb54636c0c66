"""The species actors of a run and the driver's copies of their committed states (``docs/cluster.md``).

Paper §III-A, §III-F: one :class:`~ecosim.engine.species.SpeciesActor` per species. The
coordinator (:mod:`ecosim.engine.coordinator`) decides what happens to a species; this module
holds the actors and keeps, for each one, a copy of its committed state: what its actor's
``commit`` returned, followed by every network added or removed since
(:func:`~ecosim.engine.recovery.with_added`, :func:`~ecosim.engine.recovery.with_removed`). From
that copy a lost actor is re-created without asking anyone (:meth:`SpeciesActors.recover`), and a
step that lost an actor after training is undone (:meth:`SpeciesActors.roll_back`).

Founding is concurrent (issue 18: a new actor process costs about a second): the actors of a
step's new species start together, and a spare actor, started in the background while the
species limit leaves room, takes the first role.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import ray

from ecosim.engine.recovery import (
    LOST_ERRORS,
    Recovery,
    RecoveryBudget,
    describe,
    with_added,
    with_removed,
)
from ecosim.engine.species import SpeciesActor
from ecosim.evolution.records import NetworkRecord, SpeciesState


def kill(actor: Any) -> None:
    """Kill an actor handle, quietly (it may be dead already)."""
    with contextlib.suppress(Exception):
        ray.kill(actor, no_restart=True)


@dataclasses.dataclass
class Snapshot:
    """What a step rolls back to: the committed states and the actors before it (see :meth:`SpeciesActors.snapshot`)."""

    states: dict[int, SpeciesState]
    actors: dict[int, Any]


class SpeciesActors(Mapping[int, Any]):
    """The living species' actors (a read-only mapping species id → actor handle) and their state copies.

    Args:
        spawn_args: what every :class:`~ecosim.engine.species.SpeciesActor` is started with after
            its species id and key: ``(seed, reproduction policy, data handle, training
            settings, task options, task timeout)``.
        budget: the run's recovery budget (``resources.max_retries`` per species and generation).
        record: writes one events-log row (:class:`~ecosim.engine.recovery.Recovery`).

    Attributes:
        states: ``{species id: SpeciesState}``, each living species' committed state (what a lost
            actor is re-created from).
        where: the last known ``(node id, pid)`` of each species' actor.
        trained_by: the actor whose training result a species' step uses.
    """

    def __init__(self, spawn_args: tuple[Any, ...], budget: RecoveryBudget, record: Callable[[Recovery], None]) -> None:
        self._spawn_args = spawn_args
        self._budget = budget
        self._record = record
        self._handles: dict[int, Any] = {}
        self.states: dict[int, SpeciesState] = {}
        self._spare: Any = None
        self._retired: dict[int, Any] = {}  # actors of species retired by the step in progress
        self.where: dict[int, tuple[str | None, int | None]] = {}
        self.trained_by: dict[int, Any] = {}

    # ---- the mapping --------------------------------------------------------------------------
    def __getitem__(self, sid: int) -> Any:
        return self._handles[sid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._handles)

    def __len__(self) -> int:
        return len(self._handles)

    def sizes(self) -> dict[int, int]:
        """Networks per living species (committed states: equal to the actors' between steps)."""
        return {s: len(self.states[s].networks) for s in sorted(self._handles)}

    def count(self) -> int:
        """Networks in the ecosystem."""
        return int(sum(self.sizes().values()))

    # ---- founding -------------------------------------------------------------------------------
    def spawn(self, sid: int, key: Any) -> Any:
        """Start an actor for species ``sid`` (``-1``, ``None``: a spare without a species yet)."""
        # SPREAD: species actors (and the CPU work of reproduction) spread over the nodes, so a
        # lost node costs a few species' steps, not the head's share of every species
        return SpeciesActor.options(scheduling_strategy="SPREAD").remote(  # type: ignore[attr-defined]
            sid, key, *self._spawn_args
        )

    async def start(self, keys: Mapping[int, Any], generation: int, room: bool) -> None:
        """The actors of newly founded species, all started at once (issue 18).

        A pre-started spare takes the first role; a spare lost meanwhile is replaced (an
        events-log row ``spare_lost``). The next spare starts in the background when ``room``
        (the species limit allows another species).

        Args:
            keys: ``{species id: species key}`` of the founded species, in founding order.
        """
        sids = list(keys)
        spare, self._spare = self._spare, None
        rest = sids[1:] if spare is not None else sids
        started = {sid: self.spawn(sid, keys[sid]) for sid in rest}  # start now, beside the spare's assign
        if spare is not None:
            first = sids[0]
            try:
                await spare.assign.remote(first, keys[first])  # async actors do not order calls: wait for it
                started[first] = spare
            except LOST_ERRORS as exc:
                kill(spare)
                self._record(
                    Recovery(
                        "spare_lost",
                        generation,
                        describe(exc),
                        species_id=first,
                        lost="the pre-started spare actor",
                        redone=f"a new actor started for species {first}",
                    )
                )
                started[first] = self.spawn(first, keys[first])
        for sid in sids:
            self._handles[sid] = started[sid]
            self.states[sid] = SpeciesState(sid, keys[sid])
        if room:
            self._spare = self.spawn(-1, None)

    def restart(self, states: Mapping[int, SpeciesState], actors: Mapping[int, Any]) -> None:
        """Take ``actors`` holding ``states`` as the living species (a resumed run)."""
        self.states = dict(states)
        self._handles = dict(actors)

    def clear(self) -> None:
        """Kill every actor and forget every species (the initial species are created again)."""
        for actor in [*self._handles.values(), self._spare]:
            if actor is not None:
                kill(actor)
        self._handles, self.states, self._spare = {}, {}, None

    # ---- changes, mirrored in the copies ------------------------------------------------------------
    async def add(self, sid: int, records: Sequence[NetworkRecord]) -> None:
        """Add networks to a species (its actor and the committed-state copy)."""
        await self._handles[sid].add.remote(records)
        self.states[sid] = with_added(self.states[sid], records)

    async def remove(self, sid: int, ids: Sequence[int]) -> int:
        """Remove networks from a species (its actor and the committed-state copy); returns its size."""
        size = await self._handles[sid].remove.remote(ids)
        self.states[sid] = with_removed(self.states[sid], ids)
        return int(size)

    async def commit(self, sids: Sequence[int]) -> None:
        """Commit the species' current states and keep the copies."""
        states = await asyncio.gather(*(self._handles[s].commit.remote() for s in sids))
        self.states.update(zip(sids, states))

    def retire(self, sid: int) -> None:
        """Forget a species that lost its last network.

        Its actor is killed once the step that retired it is complete (:meth:`end_step`): a step
        rolled back brings it back, and a species loop whose ``train`` call is still in flight
        (asynchronous mode) ends quietly instead of awaiting a killed actor.
        """
        self._retired[sid] = self._handles.pop(sid)
        self.states.pop(sid, None)

    def end_step(self) -> None:
        """A step is complete: kill the actors it retired."""
        for actor in self._retired.values():
            kill(actor)
        self._retired.clear()

    def release(self, sid: int) -> None:
        """Kill the actor of a retired species whose loop ends."""
        actor = self._retired.pop(sid, None)
        if actor is not None:
            kill(actor)

    # ---- recovery ---------------------------------------------------------------------------------
    async def load(self, sid: int, generation: int) -> Any:
        """A new actor holding ``states[sid]``; one lost while loading (placed on a node that was
        dying too) is replaced, within the recovery budget.

        Raises:
            ClusterError: the recovery budget of species ``sid`` in ``generation`` is spent.
        """
        while True:
            actor = self.spawn(sid, self.states[sid].key)
            try:
                await actor.restore.remote(self.states[sid])
                return actor
            except LOST_ERRORS:
                kill(actor)
                self._budget.spend(("species", sid, generation), f"species {sid}'s actor")

    async def recover(self, sid: int, dead: Any, generation: int) -> bool:
        """Re-create species ``sid``'s lost actor from its committed state (hold the coordinator's lock).

        Returns:
            ``False`` when it was re-created already (the handle is not ``dead`` any more).

        Raises:
            ClusterError: more recoveries of this species in ``generation`` than
                ``resources.max_retries`` allows.
        """
        if self._handles.get(sid) is not dead:
            return False
        self._budget.spend(("species", sid, generation), f"species {sid}'s actor")
        kill(dead)  # an unreachable actor may still run: it holds no state anyone will read
        self._handles[sid] = await self.load(sid, generation)
        return True

    def snapshot(self) -> Snapshot:
        """The actors and committed states a step rolls back to (taken before the step)."""
        return Snapshot(dict(self.states), dict(self._handles))

    async def roll_back(
        self, base: Snapshot, stepping: Collection[int] | None, generation: int, room: bool
    ) -> list[int]:
        """Return the actors to ``base`` after a step lost an actor after training (hold the lock).

        Species founded in the step lose their actors, species retired in it come back. The
        stepping species (``None``: every species, the synchronous mode) are restored to their
        committed states before the step (their actors give back their training result unchanged
        when asked again); any other species the step changed has the step's additions and
        removals undone (asynchronous mode: its own training may be in flight); every other actor
        is probed. Lost actors are re-created from their committed states.

        Args:
            room: the species limit (of the policy rolled back too) allows another species: a
                spare is started if none is ready.

        Returns:
            the species whose actors were re-created (their training must be redone).

        Raises:
            ClusterError: the recovery budget of a species is spent.
        """
        now = dict(self.states)
        for sid in set(self._handles) - set(base.actors):  # founded in the failed step
            kill(self._handles.pop(sid))
        for sid in list(self._retired):  # retired in the failed step
            self._handles[sid] = self._retired.pop(sid)
        self.states = dict(base.states)
        if self._spare is None and room:
            self._spare = self.spawn(-1, None)
        sids = sorted(base.actors)
        restore = set(sids) if stepping is None else set(stepping) & set(sids)
        calls = []
        for s in sids:
            if s in restore:
                calls.append(self._handles[s].restore.remote(self.states[s]))
            elif now.get(s) is not base.states[s]:
                calls.append(self._undo(s, now.get(s), base.states[s]))
            else:
                calls.append(self._handles[s].size.remote())
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        recreated = []
        for s, out in zip(sids, outcomes):
            if isinstance(out, LOST_ERRORS):
                await self.recover(s, self._handles[s], generation)
                recreated.append(s)
            elif isinstance(out, BaseException):
                raise out
        return recreated

    async def _undo(self, sid: int, now: SpeciesState | None, before: SpeciesState) -> int:
        """Take back what a failed step added to or removed from species ``sid``; returns its size."""
        actor = self._handles[sid]
        have = set(now.networks) if now is not None else set()
        added = sorted(have - set(before.networks))
        back = [before.networks[i] for i in sorted(set(before.networks) - have)]
        size = await actor.remove.remote(added) if added else await actor.size.remote()
        if back:
            size = await actor.add.remote(back)
        return int(size)

    async def shutdown(self, created_s: float = 30.0, exited_s: float = 10.0) -> None:
        """Kill every species actor (and the spare, and any retired one still alive), and wait until
        their processes on this node have exited.

        Ray's own teardown at exit must never meet a live actor: one still being created (a spare
        loading its class from the GCS) or still exiting aborts and prints a C++ stack to the
        user's terminal. So this first lets every actor finish its creation (it answers
        :meth:`~ecosim.engine.species.SpeciesActor.where`; at most ``created_s`` seconds: about
        one on an idle machine, more on a loaded one), then kills them, then waits up to
        ``exited_s`` seconds for their process ids. No call is sent to a killed actor: one that
        reaches an actor while Ray force-kills it can abort the actor's process the same way
        (``St19bad_optional_access`` in ``CoreWorker::ExecuteTask``, Ray 2.60; an earlier
        ``__ray_ready__`` probe did). Actors on other nodes are not waited for: Ray's teardown
        of this driver does not stop other nodes, and their owner's exit ends them. Ray's
        graceful ``__ray_terminate__`` is not used: an actor that imported torch takes seconds
        to exit that way, against milliseconds when killed.
        """
        doomed = [*self._handles.values(), *self._retired.values()]
        doomed += [self._spare] if self._spare is not None else []
        self._handles, self._retired, self._spare = {}, {}, None
        places = await _locate(doomed, created_s)
        for actor in doomed:
            kill(actor)
        deadline = time.monotonic() + exited_s
        here = ray.get_runtime_context().get_node_id()
        pids = [p["pid"] for p in places if p is not None and p.get("node_id") == here]
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


async def _locate(actors: Sequence[Any], wait_s: float) -> list[dict[str, Any] | None]:
    """Each actor's ``where()`` (``None`` for one that failed or did not answer within ``wait_s`` s)."""
    calls = [asyncio.ensure_future(_where(a)) for a in actors]
    if calls:
        await asyncio.wait(calls, timeout=wait_s)
    for call in calls:
        call.cancel()
    return [c.result() if c.done() and not c.cancelled() else None for c in calls]


async def _where(actor: Any) -> dict[str, Any] | None:
    with contextlib.suppress(Exception):
        return dict(await actor.where.remote())
    return None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` on this machine runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # Linux: the state follows the command's ")"
    return True


__all__ = ["Snapshot", "SpeciesActors", "kill"]
