"""Training/evaluation of one network as a Ray remote task (paper §III-B).

The dataset arrives as a Ray object reference resolved by Ray (zero-copy numpy from the object
store: put once per run, not once per task). The task returns CPU numpy arrays only.
"""

from __future__ import annotations

import ray

from ecosim.genome import Genome, Weights
from ecosim.phenotype.records import DataArrays, TrainResult, TrainSettings


@ray.remote
def train_network_task(
    data: DataArrays, genome: Genome, weights: Weights, settings: TrainSettings, seed: int, evaluate_before: bool
) -> TrainResult:
    """Ray task wrapper of :func:`ecosim.phenotype.training.train_and_evaluate`.

    Resources (CPUs, fractional GPUs, retries) are set by the caller with ``.options``.
    A failing network comes back as a result with status ``diverged``/``error``, never raises.
    """
    from ecosim.phenotype.training import train_and_evaluate  # torch: loaded in the worker only

    return train_and_evaluate(genome, weights, data, settings, seed, evaluate_before)


__all__ = ["train_network_task"]
