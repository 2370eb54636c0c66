"""What the coordinator needs to survive lost actors and nodes (``docs/cluster.md``).

* :data:`LOST_ERRORS` and :func:`is_lost`: the Ray errors that mean a species actor, or a result
  it held, is gone (its process was killed, its node was lost), as opposed to a bug.
* :func:`with_added`, :func:`with_removed`: the driver's copy of a species' committed state
  follows what the coordinator tells the actor (the same change as
  :meth:`SpeciesActor.add <ecosim.engine.species.SpeciesActor.add>` /
  :meth:`~ecosim.engine.species.SpeciesActor.remove` make), so a lost actor is re-created from
  it without asking anyone.
* :class:`RecoveryBudget`: recoveries are bounded (``resources.max_retries`` per species and
  generation), so a network that kills its actor every time stops the run instead of looping.
* :class:`Recovery`: one recovery in progress, which becomes one row of the events log
  (:data:`ecosim.store.logs.EVENT_SCHEMA`) once the redone work has finished.

Why the redo is exact: every random draw comes from a stream derived from (seed, generation,
network or species id) (:mod:`ecosim.rng`), so a species' step redone from its last committed
state gives the same networks, and a synchronous run's logs equal an uninterrupted run's.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Collection, Hashable, Sequence
from typing import Any

import ray

from ecosim.errors import ClusterError
from ecosim.evolution.records import NetworkRecord, SpeciesState

#: Ray errors meaning that a species actor, or an object it held, was lost with its process or
#: node (``ActorDiedError``, ``ActorUnavailableError``, ``ObjectLostError``, ``OwnerDiedError``,
#: ``NodeDiedError``). An error raised *inside* an actor method (a ``RayTaskError``) is a bug,
#: not a loss, and is not among them.
LOST_ERRORS: tuple[type[BaseException], ...] = (
    ray.exceptions.RayActorError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.NodeDiedError,
)

#: characters of an error kept in the events log's ``cause``
CAUSE_LIMIT = 300


def is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means lost work (:data:`LOST_ERRORS`), not a failure of the work itself."""
    return isinstance(exc, LOST_ERRORS)


def describe(exc: BaseException) -> str:
    """``"ActorDiedError: <first line>"``, at most :data:`CAUSE_LIMIT` characters (the events log's ``cause``)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= CAUSE_LIMIT else text[: CAUSE_LIMIT - 3] + "..."


def with_added(state: SpeciesState, records: Sequence[NetworkRecord]) -> SpeciesState:
    """``state`` with ``records`` adopted (their ``species_id`` set), as ``SpeciesActor.add`` commits them.

    Returns a new state; ``state`` is not changed (the coordinator keeps old states to roll back to).
    """
    nets = dict(state.networks)
    for r in records:
        nets[r.id] = dataclasses.replace(r, species_id=state.species_id)
    return dataclasses.replace(state, networks=nets)


def with_removed(state: SpeciesState, ids: Collection[int]) -> SpeciesState:
    """``state`` without the networks ``ids`` (culling), as ``SpeciesActor.remove`` commits it; a new state."""
    gone = set(ids)
    return dataclasses.replace(state, networks={i: r for i, r in state.networks.items() if i not in gone})


class RecoveryBudget:
    """At most ``limit`` recoveries per key (e.g. ``("species", 3, generation)``).

    Args:
        limit: recoveries allowed per key (``resources.max_retries``; 0 allows none).

    >>> budget = RecoveryBudget(1)
    >>> budget.spend(("species", 0, 5), "species 0's actor")
    1
    >>> budget.spend(("species", 0, 5), "species 0's actor")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ecosim.errors.ClusterError: species 0's actor was lost 2 times in generation 5...
    """

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.spent: Counter[Hashable] = Counter()

    def spend(self, key: tuple[Any, ...], what: str) -> int:
        """Count one recovery for ``key`` (its last element is the generation); returns the attempt number.

        Raises:
            ClusterError: more than ``limit`` recoveries for ``key``; the message names ``what``,
                the generation and ``resources.max_retries``.
        """
        self.spent[key] += 1
        n = self.spent[key]
        if n > self.limit:
            raise ClusterError(
                f"{what} was lost {n} times in generation {key[-1]}, more than resources.max_retries = "
                f"{self.limit} allows; the run stops here (the last complete generation is kept; raise "
                "resources.max_retries or fix the cluster, then continue with 'ecosim resume RUN_DIR')"
            )
        return n


@dataclasses.dataclass
class Recovery:
    """One recovery in progress; :meth:`row` turns it into an events-log row once the redo is done.

    Attributes:
        event: ``species_recovered``, ``step_redone``, ``spare_lost``, ``resumed``,
            ``resources_exhausted`` or ``stalled`` (:data:`ecosim.store.logs.EVENT_KINDS`).
        generation: the generation in progress. species_id: the species concerned, if one.
        cause: the error that revealed the loss (:func:`describe`).
        lost, redone: in words. node_id, pid: where the lost actor last ran, if known.
        networks_retrained: networks trained again. attempt: recoveries of this kind so far.
        started: ``time.time()`` when the loss was detected (s).
    """

    event: str
    generation: int | None
    cause: str | None = None
    lost: str | None = None
    redone: str | None = None
    species_id: int | None = None
    node_id: str | None = None
    pid: int | None = None
    networks_retrained: int = 0
    attempt: int = 1
    started: float = dataclasses.field(default_factory=time.time)

    def row(self, now: float | None = None) -> dict[str, Any]:
        """The events-log row, ``recovery_s`` measured from :attr:`started` to ``now`` (default: now)."""
        now = time.time() if now is None else now
        return {
            "time": now,
            "generation": self.generation,
            "event": self.event,
            "species_id": self.species_id,
            "node_id": self.node_id,
            "pid": self.pid,
            "cause": self.cause,
            "lost": self.lost,
            "redone": self.redone,
            "networks_retrained": self.networks_retrained,
            "recovery_s": now - self.started,
            "attempt": self.attempt,
        }


__all__ = [
    "CAUSE_LIMIT",
    "LOST_ERRORS",
    "Recovery",
    "RecoveryBudget",
    "describe",
    "is_lost",
    "with_added",
    "with_removed",
]
