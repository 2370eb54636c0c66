"""The run's two watchdogs (issue 19): no node can run a training task, or no task makes progress.

Each runs as an asyncio task beside the work (:meth:`ecosim.engine.coordinator.Ecosystem.run`)
and ends the run with an error the command line turns into one line: :func:`watch_resources`
with :class:`~ecosim.errors.ClusterError` once no living node fits a training task for
``resources.resource_timeout`` seconds; :func:`watch_progress` with
:class:`~ecosim.errors.ResumableStop` once training tasks wait and none starts or finishes for
twice ``resources.stall_timeout``. Their decisions are Ray-free (:class:`StallWatch`,
:func:`~ecosim.engine.cluster.task_fits`); the rest reads Ray's node table and its cluster
state. Each writes one events-log row before it stops the run (``docs/logs.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray

from ecosim.engine.cluster import cluster_summary, task_fits
from ecosim.engine.recovery import Recovery
from ecosim.errors import ClusterError, ResumableStop

log = logging.getLogger(__name__)

#: seconds between two looks at the cluster's node table (:func:`wait_for_lost_resources`)
RESOURCE_POLL_S = 2.0

#: seconds between two looks at the training tasks' progress (:func:`watch_progress`; at most a
#: quarter of a fixed ``resources.stall_timeout``)
STALL_POLL_S = 2.0


async def wait_for_lost_resources(
    cpus: float,
    gpus: float,
    timeout: float,
    poll: float = 2.0,
    nodes: Callable[[], Sequence[Mapping[str, Any]]] = ray.nodes,
) -> tuple[str, str, float]:
    """Return once no living node could run a training task for ``timeout`` seconds in a row.

    Watches Ray's node table every ``poll`` seconds (read in a thread; a read that fails is
    skipped). Nodes that come back reset the wait. Warns (``logging``) when the wait starts and
    when nodes come back. Never returns while a node fits (:func:`task_fits`): run it as a
    watchdog task next to the work and cancel it when the work is done.

    Args:
        cpus, gpus: one task's ``resources.cpus_per_task`` and ``resources.gpus_per_task``.
        timeout: ``resources.resource_timeout`` (s; 0 returns at the first look without a node).
        poll: seconds between two looks. nodes: the node table (:func:`ray.nodes`).

    Returns:
        ``(what a task needs, what the cluster has, time.time() when the wait began)``, in words.
    """
    need = f"resources.cpus_per_task = {cpus:g} CPUs" + (
        f" and resources.gpus_per_task = {gpus:g} GPUs" if gpus else ""
    )
    need += " on one node"
    since: float | None = None
    while True:
        await asyncio.sleep(poll)
        try:
            table = await asyncio.to_thread(nodes)
        except Exception as exc:  # the GCS did not answer this time: the run's own calls will tell
            log.debug("could not read Ray's node table: %s", exc)
            continue
        if task_fits(table, cpus, gpus):
            if since is not None:
                log.warning("the Ray cluster can run training tasks again (%s)", cluster_summary(table))
            since = None
            continue
        now = time.time()
        if since is None:
            since = now
            log.warning(
                "no node of the Ray cluster can run a training task (%s; the cluster has %s): waiting up to "
                "%g s (resources.resource_timeout) for nodes",
                need,
                cluster_summary(table),
                timeout,
            )
        if now - since >= timeout:
            return need, cluster_summary(table), since


#: the derived stall timeout (``resources.stall_timeout = -1``): this many times the longest task so far ...
STALL_FACTOR = 10.0
#: ... and at least this many seconds (the first tasks of a run start Python workers and load torch)
STALL_FLOOR_S = 300.0


class StallWatch:
    """The no-progress watchdog's decisions, Ray-free (issue 19): when to warn, when to stop.

    Fed one observation per poll (:meth:`observe`). Progress is a training task starting or
    finishing (any change of ``signature``). The clock runs only while tasks wait to start:
    tasks that all run are never a stall (``resources.task_timeout`` bounds a task that
    hangs). After :meth:`timeout` seconds without progress it says ``"warn"`` once, after twice
    that ``"stop"``; progress after a warning says ``"progress"`` and starts again.

    Args:
        setting: ``resources.stall_timeout`` (s): > 0 fixed; -1 derived, :data:`STALL_FACTOR`
            × the longest task so far, at least :data:`STALL_FLOOR_S` (0, off, is never watched).

    >>> w = StallWatch(10.0)
    >>> [w.observe(t, waiting=3, signature=(0,), slowest_s=1.0) for t in (0, 9, 10, 15, 20)]
    [None, None, 'warn', None, 'stop']
    >>> w = StallWatch(-1)
    >>> w.observe(0, waiting=1, signature=(0,), slowest_s=45.0), w.timeout()
    (None, 450.0)
    """

    def __init__(self, setting: float) -> None:
        self.setting = float(setting)
        self.slowest_s = 0.0
        self.since: float | None = None
        self.signature: Any = None
        self.warned = False

    def timeout(self) -> float:
        """Seconds without progress before the warning (the stop comes after twice as long)."""
        if self.setting > 0:
            return self.setting
        return max(STALL_FLOOR_S, STALL_FACTOR * self.slowest_s)

    def observe(self, now: float, waiting: int, signature: Any, slowest_s: float) -> str | None:
        """One look: ``None``, ``"warn"``, ``"stop"`` or ``"progress"`` (after a warning).

        Args:
            now: a monotonic clock (s). waiting: training tasks submitted and not started.
            signature: anything that changes when a task starts or finishes (per-actor event counts).
            slowest_s: the longest task so far, running ones included (s).
        """
        self.slowest_s = max(self.slowest_s, slowest_s)
        moved = signature != self.signature
        self.signature = signature
        if waiting == 0 or moved or self.since is None:
            was_warned, self.warned = self.warned, False
            self.since = now if waiting else None
            return "progress" if was_warned and moved else None
        idle = now - self.since
        if idle >= 2 * self.timeout():
            return "stop"
        if idle >= self.timeout() and not self.warned:
            self.warned = True
            return "warn"
        return None


def cluster_report(timeout: float = 5.0) -> str:
    """What the Ray cluster reports, in words, for a stall message; best effort, blocking (≤ ``timeout`` s per part).

    Three parts, each left out when Ray does not answer: free CPUs and GPUs of the total
    (:func:`ray.available_resources`); the resource demands Ray has pending (the autoscaler
    state in the GCS, as ``ray status`` shows it); the object store's use over all nodes, and
    whether fetches wait for memory (as ``ray memory --stats-only`` shows it; the symptom of
    Ray issue 64627, ``docs/cluster.md``).

    >>> cluster_report()  # doctest: +SKIP
    '0 of 2 CPUs in use, 0 GPUs; Ray has pending demands {CPU: 1} × 5; object store 210 MB used of 315 MB (52 MB on '
    'disk), fetches queued waiting for memory'
    """
    parts = []
    with contextlib.suppress(Exception):
        total, free = ray.cluster_resources(), ray.available_resources()
        cpus, gpus = float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0))
        used = f"{cpus - float(free.get('CPU', 0.0)):g} of {cpus:g} CPUs in use"
        used += f", {gpus - float(free.get('GPU', 0.0)):g} of {gpus:g} GPUs" if gpus else ", 0 GPUs"
        parts.append(used)
    address = None
    with contextlib.suppress(Exception):
        address = ray.get_runtime_context().gcs_address
    if address:
        with contextlib.suppress(Exception):
            from ray.autoscaler.v2.sdk import get_cluster_status

            demands = get_cluster_status(address, timeout=int(max(1, timeout))).resource_demands.ray_task_actor_demand
            pending = [
                f"{{{', '.join(f'{k}: {v:g}' for k, v in sorted(b.bundle.items()))}}} × {b.count}"
                for d in demands
                for b in d.bundles_by_count
            ]
            parts.append(f"Ray has pending demands {', '.join(pending)}" if pending else "Ray has no pending demands")
        with contextlib.suppress(Exception):
            from ray._private.internal_api import get_memory_info_reply, get_state_from_address

            st = get_memory_info_reply(get_state_from_address(address), timeout_seconds=timeout).store_stats
            mb = 1e6
            used, avail = st.object_store_bytes_used / mb, st.object_store_bytes_avail / mb
            store = f"object store {used:.0f} MB used of {avail:.0f} MB"
            if st.object_store_bytes_fallback:
                store += f" ({st.object_store_bytes_fallback / mb:.0f} MB on disk)"
            if st.object_pulls_queued:
                store += ", fetches queued waiting for memory"
            parts.append(store)
    return "; ".join(parts) or "the cluster did not answer"


async def watch_resources(
    cpus: float,
    gpus: float,
    timeout: float,
    completed_generation: Callable[[], int],
    resume_command: str,
    record: Callable[[Recovery], None],
) -> None:
    """Stop the run once no node can run a training task for ``timeout`` seconds.

    Args:
        cpus, gpus: ``resources.cpus_per_task``, ``resources.gpus_per_task``.
        timeout: ``resources.resource_timeout`` (s).
        completed_generation: the last complete generation now (−1: none yet).
        resume_command: how to continue the run (``ecosim resume RUN_DIR [--address ...]``).
        record: writes the events-log row (:class:`~ecosim.engine.recovery.Recovery`).

    Raises:
        ClusterError: the wait ran out (an events-log row ``resources_exhausted`` first); the
            message says what is missing and how to resume.
    """
    need, have, since = await wait_for_lost_resources(cpus, gpus, timeout, RESOURCE_POLL_S)
    last = completed_generation()
    kept = f"generation {last} is the last complete one and is kept" if last >= 0 else "no generation was complete yet"
    record(
        Recovery(
            "resources_exhausted",
            last + 1,
            f"{need}; the cluster has {have}",
            lost="no node could run a training task any more",
            redone="nothing (the run stopped)",
            started=since,
        )
    )
    raise ClusterError(
        f"no node of the Ray cluster can run a training task any more ({need}; the cluster has {have}) "
        f"and none came back within resources.resource_timeout = {timeout:g} s; {kept}: "
        f"add nodes, then continue with: {resume_command}"
    )


async def watch_progress(
    stall_timeout: float,
    actors: Callable[[], Sequence[tuple[int, Any]]],
    completed_generation: Callable[[], int],
    run_dir: Path,
    record: Callable[[Recovery], None],
) -> None:
    """Stop the run when training tasks wait and none starts or finishes for too long (issue 19).

    Every :data:`STALL_POLL_S` s it asks each species actor for its tasks' progress
    (:meth:`~ecosim.engine.species.SpeciesActor.progress`) and feeds :class:`StallWatch`: one
    warning naming what waits and what the cluster reports (:func:`cluster_report`), then the stop.

    Args:
        stall_timeout: ``resources.stall_timeout`` (s; −1 derived, see :class:`StallWatch`).
        actors: the living ``(species id, actor handle)`` pairs now.
        completed_generation: the last complete generation now (−1: none yet).
        run_dir: the run directory (named in the stop). record: writes the events-log row.

    Raises:
        ResumableStop: no progress for twice the stall timeout (an events-log row ``stalled``
            first); the last complete generation is kept.
    """
    watch = StallWatch(stall_timeout)
    poll = STALL_POLL_S if watch.setting < 0 else min(STALL_POLL_S, watch.setting / 4)
    started: float | None = None
    while True:
        await asyncio.sleep(poll)
        living = list(actors())
        looks = await asyncio.gather(
            *(asyncio.wait_for(a.progress.remote(), max(poll, 1.0)) for _, a in living), return_exceptions=True
        )
        seen = [(sid, id(a), p) for (sid, a), p in zip(living, looks) if isinstance(p, dict)]
        waiting = sum(p["waiting"] for _, _, p in seen)
        signature = tuple((sid, key, p["events"]) for sid, key, p in seen)
        action = watch.observe(
            time.monotonic(), waiting, signature, max((p["slowest_s"] for *_, p in seen), default=0.0)
        )
        if action is None:
            continue
        if action == "progress":
            log.warning("training tasks start and finish again; the run goes on")
            continue
        idle = time.monotonic() - (watch.since or time.monotonic())
        running = sum(p["running"] for _, _, p in seen)
        gens = sorted({p["generation"] for _, _, p in seen if p["generation"] is not None})
        species = [sid for sid, _, p in seen if p["waiting"]]
        what = (
            f"{waiting} training task{'s' if waiting != 1 else ''} of generation {', '.join(map(str, gens))} "
            f"wait{'s' if waiting == 1 else ''} to start (species {', '.join(map(str, species))}), {running} running"
        )
        report = await asyncio.to_thread(cluster_report)
        if action == "warn":
            started = time.time() - idle
            log.warning(
                "no training task started or finished for %.0f s: %s; the Ray cluster reports: %s; the run "
                "stops in %.0f s unless one does (resources.stall_timeout; docs/cluster.md, 'A run that waits')",
                idle,
                what,
                report,
                watch.timeout(),
            )
            continue
        last = completed_generation()
        reason = f"no training task started or finished for {idle:.0f} s: {what}; the Ray cluster reports: {report}"
        record(
            Recovery(
                "stalled",
                last + 1,
                reason[:300],
                started=started or time.time() - idle,
                lost="the work of the generation in progress",
                redone="nothing: the run stopped (resumable)",
            )
        )
        raise ResumableStop(reason, str(run_dir))


__all__ = [
    "RESOURCE_POLL_S",
    "STALL_FACTOR",
    "STALL_FLOOR_S",
    "STALL_POLL_S",
    "StallWatch",
    "cluster_report",
    "wait_for_lost_resources",
    "watch_progress",
    "watch_resources",
]
