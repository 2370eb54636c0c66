"""Training/evaluation of one network as a Ray remote task (paper §III-B), and how the dataset reaches it.

The dataset is **not** a task argument (issue 19). A task argument is pinned by the raylet for
the task's lease, and Ray 2.60 leaks that pin when the task's owner dies (a species actor lost
with its node; Ray issue 64627): the node's object store then counts the dataset as in use for
ever, and once such leaks fill it, no task with a large argument starts there again (it waits
in silence). A task gets a :class:`DataHandle` instead (a few hundred bytes): the digests of
the arrays and a reference Ray does not resolve. The first task on a machine fetches the arrays
(``ray.get``, which Ray serves even on such a node), writes them to the machine's
:class:`~ecosim.data.node_cache.NodeCache` and every task on that machine maps them from there
(:func:`node_data`); a worker process keeps them mapped for its later tasks.

The task returns CPU numpy arrays only.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import ray

from ecosim.data.arrays import DataArrays
from ecosim.data.node_cache import NodeCache, array_digest
from ecosim.genome import Genome, Weights
from ecosim.phenotype.records import TrainingParams, TrainResult

log = logging.getLogger(__name__)

#: the array fields of :class:`DataArrays` (``test_*`` may be ``None``)
_ARRAYS = ("train_images", "train_labels", "eval_images", "eval_labels", "test_images", "test_labels")


@dataclasses.dataclass(frozen=True)
class DataHandle:
    """What a training task gets instead of the dataset (see the module docstring).

    Attributes:
        digests: ``{field of DataArrays: array digest}`` (:func:`~ecosim.data.node_cache.array_digest`);
            fields that are ``None`` are absent.
        mean, std: per-channel normalisation (as :class:`DataArrays`).
        ref: ``[ObjectRef]`` of the :class:`DataArrays` in Ray's object store, in a list so
            that Ray neither fetches nor pins it for the task (it is read once per machine).
        nbytes: bytes of the arrays (for messages).
    """

    digests: dict[str, str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    ref: list
    nbytes: int

    @classmethod
    def put(cls, data: DataArrays) -> DataHandle:
        """Put ``data`` into Ray's object store once (driver side) and describe it.

        The digests take about 0.1 s per 50 MB.
        """
        digests = {f: array_digest(a) for f in _ARRAYS if (a := getattr(data, f)) is not None}
        nbytes = sum(int(getattr(data, f).nbytes) for f in digests)
        return cls(digests, tuple(data.mean), tuple(data.std), [ray.put(data)], nbytes)

    @property
    def key(self) -> str:
        """One name for the whole dataset (the lock of its copy on a machine)."""
        return array_digest(np.frombuffer("".join(sorted(self.digests.values())).encode(), np.uint8))


#: arrays this worker process has mapped: ``{DataHandle.key: DataArrays}``
_MAPPED: dict[str, DataArrays] = {}


def node_data(handle: DataHandle, cache: NodeCache | None = None) -> DataArrays:
    """The dataset of ``handle`` in this worker: mapped from the machine's copy, written there first if needed.

    Args:
        handle: from :meth:`DataHandle.put`. cache: the machine's copies (default folder:
            :func:`~ecosim.data.node_cache.default_root`).

    Returns:
        :class:`DataArrays` whose arrays are read-only memory maps. When the copy cannot be
        written (full or read-only disk) the fetched arrays are used from memory instead, with
        a warning.
    """
    known = _MAPPED.get(handle.key)
    if known is not None:
        return known
    cache = cache or NodeCache()
    names = list(handle.digests.values())
    arrays = cache.load(names)
    if arrays is None:
        try:
            with cache.lock(handle.key):  # one process per machine fetches and writes
                arrays = cache.load(names)
                if arrays is None:
                    data = ray.get(handle.ref[0])
                    arrays = {d: getattr(data, f) for f, d in handle.digests.items()}
                    cache.store(arrays)
                    arrays = cache.load(names) or arrays
        except OSError as exc:
            log.warning(
                "the dataset copy in %s cannot be written (%s): this worker keeps it in memory", cache.root, exc
            )
            data = ray.get(handle.ref[0])
            arrays = {d: getattr(data, f) for f, d in handle.digests.items()}
    fields = {f: arrays[d] for f, d in handle.digests.items()}
    data = DataArrays(mean=handle.mean, std=handle.std, **fields)
    _MAPPED[handle.key] = data
    return data


@ray.remote
def train_network_task(
    data: DataHandle,
    genome: Genome,
    weights: list,
    training: TrainingParams,
    seed: int,
    evaluate_before: bool,
    started: Any = None,
    lr_scale: float = 1.0,
) -> TrainResult:
    """Ray task wrapper of :func:`ecosim.phenotype.training.train_and_evaluate`.

    Resources (CPUs, fractional GPUs, retries) are set by the caller with ``.options``.
    A failing network comes back as a result with status ``diverged``/``error``, never raises.

    Args:
        data: the dataset (:class:`DataHandle`; read through :func:`node_data`).
        weights: ``[ObjectRef]`` of the network's :class:`~ecosim.genome.Weights`, fetched by the
            task (a list: Ray neither fetches nor pins it; weights above 100 kB would otherwise
            be a pinned argument too).
        started: ``(actor handle, tag)``: the task calls ``actor.task_started.remote(tag)`` when it
            starts (the coordinator's no-progress watchdog counts it), or ``None``.
        lr_scale: factor on the learning rate (``ecosystem.settle_lr_decay``; 1: unchanged).
    """
    if started is not None:
        actor, tag = started
        actor.task_started.remote(tag)
    from ecosim.phenotype.training import train_and_evaluate  # torch: loaded in the worker only

    start: Weights = ray.get(weights[0])
    threads = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0))  # resources.cpus_per_task
    return train_and_evaluate(genome, start, node_data(data), training, seed, evaluate_before, threads, lr_scale)


__all__ = ["DataHandle", "node_data", "train_network_task"]
