"""Failing networks are data: NaN loss and raising tasks are recorded and scored 0 (issue: failures)."""

import numpy as np
import pytest

from ecosim.config import Config
from ecosim.data import prepare_data
from ecosim.engine.species import SpeciesActor
from ecosim.engine.tasks import DataHandle
from ecosim.evolution.population import ReproductionPolicy
from ecosim.evolution.records import NetworkRecord
from ecosim.genome import ConvLayer, DenseLayer, Genome, LayerWeights, Weights, init_weights
from ecosim.phenotype.records import TrainingParams

pytestmark = pytest.mark.ray


def test_diverging_and_raising_networks_are_recorded_not_fatal(ray_local, data_root):
    cfg = Config().with_overrides({"data.data_root": str(data_root), "data.test_subset": 500})
    data, shape, classes = prepare_data(cfg)
    ref = DataHandle.put(data)
    g = Genome(shape, (ConvLayer(((3, 3),) * 2), DenseLayer(classes)))
    good = init_weights(g, np.random.default_rng(0))
    huge = Weights(tuple(LayerWeights(tuple(n * np.float32(1e30) for n in lw.nodes), lw.bias) for lw in good.layers))
    broken_genome = Genome(shape, (ConvLayer(((3, 3),) * 3), DenseLayer(classes)))  # weights do not fit
    actor = SpeciesActor.remote(
        0, None, 1, ReproductionPolicy(), ref, TrainingParams(train_fraction=0.02), {"num_cpus": 1, "max_retries": 1}
    )
    ray_local.get(
        actor.add.remote(
            [
                NetworkRecord(0, 0, g, good),
                NetworkRecord(1, 0, g, huge),
                NetworkRecord(2, 0, broken_genome, good),
            ]
        )
    )
    out = ray_local.get(actor.train.remote(0))
    rows = {r["network_id"]: r for r in out["rows"]}
    assert rows[0]["status"] == "ok" and rows[0]["fitness"] > 0.3
    assert rows[1]["status"] == "diverged" and rows[1]["fitness"] == 0.0 and rows[1]["message"]
    assert rows[2]["status"] == "error" and rows[2]["fitness"] == 0.0 and "Error" in rows[2]["message"]
    # the species still reproduces and culls afterwards
    offspring = ray_local.get(actor.reproduce.remote(0, [10, 11]))
    assert len(offspring) == 2
    ray_local.kill(actor)


def test_a_task_whose_worker_dies_is_retried_and_the_generation_completes(ray_local, data_root):
    import os
    import signal
    import threading
    import time

    import psutil

    cfg = Config().with_overrides({"data.data_root": str(data_root)})
    data, shape, classes = prepare_data(cfg)
    ref = DataHandle.put(data)
    g = Genome(shape, (ConvLayer(((5, 5),) * 8), DenseLayer(classes)))
    actor = SpeciesActor.remote(
        0, None, 1, ReproductionPolicy(), ref, TrainingParams(train_fraction=0.2), {"num_cpus": 1, "max_retries": 2}
    )
    ray_local.get(
        actor.add.remote([NetworkRecord(i, 0, g, init_weights(g, np.random.default_rng(i))) for i in range(2)])
    )
    killed = []

    def kill_one_training_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for p in psutil.process_iter(["pid", "cmdline"]):
                if "train_network_task" in " ".join(p.info["cmdline"] or []):
                    os.kill(p.info["pid"], signal.SIGKILL)
                    killed.append(p.info["pid"])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_training_worker)
    killer.start()
    out = ray_local.get(actor.train.remote(0), timeout=300)
    killer.join()
    assert killed, "no training worker was seen to kill"
    assert sorted(r["network_id"] for r in out["rows"]) == [0, 1]
    assert all(r["status"] == "ok" for r in out["rows"])  # the lost task was retried
    ray_local.kill(actor)
