"""Failing networks are data: NaN loss and raising tasks are recorded and scored 0 (issue: failures)."""

import numpy as np
import pytest

from ecosim.api import prepare_data
from ecosim.engine.species import SpeciesActor
from ecosim.evolution.population import NetworkRecord, ReproductionPolicy
from ecosim.genome import ConvLayer, DenseLayer, Genome, LayerWeights, Weights, init_weights
from ecosim.io.config import Config
from ecosim.phenotype.training import TrainSettings

pytestmark = pytest.mark.ray


def test_diverging_and_raising_networks_are_recorded_not_fatal(ray_local, data_root):
    cfg = Config().with_overrides({"data.data_root": str(data_root), "data.test_subset": 500})
    data, shape, classes = prepare_data(cfg)
    ref = ray_local.put(data)
    g = Genome(shape, (ConvLayer(((3, 3),) * 2), DenseLayer(classes)))
    good = init_weights(g, np.random.default_rng(0))
    huge = Weights(tuple(LayerWeights(tuple(n * np.float32(1e30) for n in lw.nodes), lw.bias) for lw in good.layers))
    broken_genome = Genome(shape, (ConvLayer(((3, 3),) * 3), DenseLayer(classes)))  # weights do not fit
    actor = SpeciesActor.remote(0, None, 1, ReproductionPolicy(), [ref], TrainSettings(train_fraction=0.02), {"num_cpus": 1, "max_retries": 1})
    ray_local.get(actor.add.remote([
        NetworkRecord(0, 0, g, good),
        NetworkRecord(1, 0, g, huge),
        NetworkRecord(2, 0, broken_genome, good),
    ]))
    out = ray_local.get(actor.train.remote(0))
    rows = {r["network_id"]: r for r in out["rows"]}
    assert rows[0]["status"] == "ok" and rows[0]["fitness"] > 0.3
    assert rows[1]["status"] == "diverged" and rows[1]["fitness"] == 0.0 and rows[1]["message"]
    assert rows[2]["status"] == "error" and rows[2]["fitness"] == 0.0 and "Error" in rows[2]["message"]
    # the species still reproduces and culls afterwards
    offspring = ray_local.get(actor.reproduce.remote(0, [10, 11], {}, 0))
    assert len(offspring) == 2
    ray_local.kill(actor)
