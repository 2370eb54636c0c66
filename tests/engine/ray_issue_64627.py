"""Ray issue 64627 on one machine, in plain Ray, and an ecosim run on the node it poisons (issue 19).

When the owner of a running task dies (here: an actor on a node removed without grace), the
raylet kills the task's worker without releasing the task arguments it pinned in the object
store. Once the leaked pins fill a node's store, no new task with a large argument starts on
that node: its argument is never fetched and the task waits for ever, with free CPUs.

The script builds a ``ray.cluster_utils.Cluster`` (a head without CPUs, node A with 1 CPU, node
B with 2; 150 MiB object stores), leaks two 55 MB arguments on B by removing A while an actor
of A owns two tasks on B, then, on the cluster left (training can run on B only):

1. ``ecosim``: a run of 3 generations (``--stall-timeout 20``) whose tasks get the dataset
   through the machine copy (:mod:`ecosim.engine.tasks`) — it completes, or the watchdog stops it;
2. ``plain``: ``f.remote(ray.put(np.zeros(55_000_000, np.uint8)))`` — Ray's own reproduction,
   which waits for ever on affected Ray versions (given 30 s here).

It prints one JSON object: ``ray`` (version), ``leaked_mb`` (object store in use on the cluster
after the removal), ``ecosim`` (``"completed"``, or the stop's message), ``generations`` (rows
logged), ``plain_stalled`` (whether the plain task was still waiting after 30 s).

Run it with ``RAY_TMPDIR`` set to a folder of its own (the cluster writes its address there,
not in /tmp/ray where a plain ``ray.init()`` of this machine would join it)::

    RAY_TMPDIR=$(mktemp -d) ECOSIM_DATA=... python tests/engine/ray_issue_64627.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import ray
from ray.cluster_utils import Cluster
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

LEAKED_BYTES = 55_000_000
PLAIN_BYTES = 55_000_000
LEAKED = 2  # arguments leaked on node B (one CPU each while they are held)
FAST_HEALTH = {"health_check_period_ms": 500, "health_check_timeout_ms": 500, "health_check_failure_threshold": 4}


@ray.remote(num_cpus=0)
class Started:
    """Counts the holding tasks that run."""

    def __init__(self) -> None:
        self.n = 0

    def one(self) -> None:
        self.n += 1

    def count(self) -> int:
        return self.n


@ray.remote(num_cpus=1)
def hold(arg: np.ndarray, started) -> None:
    ray.get(started.one.remote())
    time.sleep(3600)


@ray.remote(num_cpus=0)
class Owner:
    """Owns tasks on another node (and the arguments they pin there)."""

    def submit(self, node_id: str, started, count: int) -> bool:
        place = NodeAffinitySchedulingStrategy(node_id, soft=False)
        self.args = [ray.put(np.full(LEAKED_BYTES, i, np.uint8)) for i in range(count)]
        self.tasks = [hold.options(scheduling_strategy=place).remote(a, started) for a in self.args]
        return True


@ray.remote(num_cpus=1)
def nbytes(arg: np.ndarray) -> int:
    return int(arg.nbytes)


def store_used_mb(address: str) -> float:
    from ray._private.internal_api import get_memory_info_reply, get_state_from_address

    return (
        get_memory_info_reply(get_state_from_address(address), timeout_seconds=10).store_stats.object_store_bytes_used
        / 1e6
    )


def poison(cluster: Cluster, a, b) -> float:
    """Leak two pinned arguments on node ``b`` (their owner dies with node ``a``); returns MB in use after."""
    started = Started.remote()
    owner = Owner.options(scheduling_strategy=NodeAffinitySchedulingStrategy(a.node_id, soft=False)).remote()
    ray.get(owner.submit.remote(b.node_id, started, LEAKED))
    deadline = time.monotonic() + 120
    while ray.get(started.count.remote()) < LEAKED:
        assert time.monotonic() < deadline, "the holding tasks did not start"
        time.sleep(0.2)
    cluster.remove_node(a, allow_graceful=False)
    while any(n["Alive"] and n["NodeID"] == a.node_id for n in ray.nodes()):
        time.sleep(0.2)
    time.sleep(3)  # the raylet of b kills the orphaned workers
    return store_used_mb(cluster.address)


def run_ecosim(address: str, out: Path, data_root: str) -> tuple[str, int]:
    from ecosim.api import run
    from ecosim.config import Config
    from ecosim.errors import EcosimError
    from ecosim.store.logs import read_generations

    cfg = Config().with_overrides(
        {
            "run.out": str(out),
            "run.seed": 11,
            "run.generations": 3,
            "run.address": address,
            "data.dataset": "mnist",
            "data.data_root": data_root,
            "data.test_subset": 500,
            "ecosystem.population": 4,
            "ecosystem.species": 2,
            "ecosystem.max_species": 2,
            "ecosystem.max_population": 6,
            "ecosystem.offspring": 2,
            "training.train_fraction": 0.01,
            "resources.stall_timeout": 20.0,
        }
    )
    try:
        run(cfg)
        outcome = "completed"
    except EcosimError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    rows = len(read_generations(out)) if (out / "generations").is_dir() else 0
    return outcome, rows


def main(out: Path, data_root: str) -> dict:
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, "_system_config": FAST_HEALTH}
    )
    try:
        a = cluster.add_node(num_cpus=1)
        b = cluster.add_node(num_cpus=LEAKED)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="ERROR")
        leaked = poison(cluster, a, b)
        outcome, rows = run_ecosim(cluster.address, out, data_root)
        ref = nbytes.remote(ray.put(np.zeros(PLAIN_BYTES, np.uint8)))
        ready, _ = ray.wait([ref], timeout=30)
        return {
            "ray": ray.__version__,
            "leaked_mb": round(leaked),
            "ecosim": outcome,
            "generations": rows,
            "plain_stalled": not ready,
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    import os

    result = main(Path(sys.argv[1]), os.environ["ECOSIM_DATA"])
    print(json.dumps(result), flush=True)
