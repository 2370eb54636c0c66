"""Training/evaluation of one network as a Ray remote task (paper §III-B).

The dataset arrives as a Ray object reference resolved by Ray (zero-copy numpy from the object
store: put once per run, not once per task). The task returns CPU numpy arrays only.
"""

from __future__ import annotations

import ray

from ecosim.genome import Genome, Weights
from ecosim.phenotype.training import DataArrays, TrainResult, TrainSettings, train_and_evaluate


@ray.remote
def train_network_task(
    data: DataArrays, genome: Genome, weights: Weights, settings: TrainSettings, seed: int, evaluate_before: bool
) -> TrainResult:
    """Ray task wrapper of :func:`ecosim.phenotype.training.train_and_evaluate`.

    Resources (CPUs, fractional GPUs, retries) are set by the caller with ``.options``.
    A failing network comes back as a result with status ``diverged``/``error``, never raises.
    """
    return train_and_evaluate(genome, weights, data, settings, seed, evaluate_before)


__all__ = ["train_network_task"]
