"""Training and scoring of one network by backpropagation (paper §III-B, §IV). Torch only, no Ray.

Each generation a network trains on a fresh random subset (``train_fraction``, 10% by default)
of the training set with minibatches of 128 and Adadelta, then is scored on the evaluation set
(test set by default). New offspring are also scored before training ("fitness before BP").
A failing network never raises: a non-finite loss gives status ``diverged``, any exception
status ``error``; both score fitness 0.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ecosim.genome import Genome, Weights
from ecosim.phenotype.records import DataArrays, TrainResult, TrainSettings

#: optimiser registry: name → constructor(params, lr or None)
OPTIMISERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adadelta": torch.optim.Adadelta,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}
_DEFAULT_LR = {"sgd": 0.01}


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _batches(images: np.ndarray, labels: np.ndarray, idx: np.ndarray, size: int, mean, std, device):
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    for start in range(0, len(idx), size):
        sel = idx[start : start + size]
        x = torch.from_numpy(np.ascontiguousarray(images[sel])).to(device).float().div_(255.0)
        y = torch.from_numpy(np.ascontiguousarray(labels[sel])).to(device)
        yield (x - m) / s, y


@torch.no_grad()
def accuracy(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mean,
    std,
    batch_size: int = 1000,
) -> float:
    """Fraction of ``images`` ``(N, C, H, W)`` uint8 classified as ``labels`` ``(N,)``; in [0, 1]."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for x, y in _batches(images, labels, np.arange(len(labels)), batch_size, mean, std, device):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(1, len(labels))


def train_and_evaluate(
    genome: Genome,
    weights: Weights,
    data: DataArrays,
    settings: TrainSettings,
    seed: int,
    evaluate_before: bool,
) -> TrainResult:
    """Score (optionally), train on a random subset, and score one network (§III-B).

    Args:
        genome, weights: the network.
        data: the dataset arrays.
        settings: optimiser, batch size, subset fraction, ...
        seed: seeds the subset draw and torch (derived from run seed, generation, network id).
        evaluate_before: also score before training (new offspring).

    Returns:
        :class:`TrainResult`; never raises for a failing network.
    """
    from ecosim.phenotype.network import build_phenotype, extract_weights

    torch.set_num_threads(max(1, settings.threads))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed % (2**63))
    result = TrainResult(weights=weights)
    device = _device()
    try:
        model = build_phenotype(
            genome, weights, activation=settings.activation, conv_mode=settings.conv_mode
        ).to(device)

        def score(images: np.ndarray, labels: np.ndarray) -> float:
            return accuracy(model, images, labels, data.mean, data.std, settings.eval_batch_size)

        t0 = time.perf_counter()
        if evaluate_before:
            result.fitness_before_bp = score(data.eval_images, data.eval_labels)
        t1 = time.perf_counter()
        n = len(data.train_labels)
        k = max(1, int(round(settings.train_fraction * n)))
        lr = settings.learning_rate or _DEFAULT_LR.get(settings.optimiser)
        opt = OPTIMISERS[settings.optimiser](model.parameters(), **({"lr": lr} if lr else {}))
        losses = []
        model.train()
        for _ in range(settings.epochs):
            idx = rng.choice(n, size=k, replace=False)
            for x, y in _batches(
                data.train_images,
                data.train_labels,
                idx,
                settings.batch_size,
                data.mean,
                data.std,
                device,
            ):
                opt.zero_grad(set_to_none=True)
                loss = F.nll_loss(model(x), y)
                if not torch.isfinite(loss.detach()):
                    result.status, result.message = (
                        "diverged",
                        f"non-finite training loss {float(loss.detach())}",
                    )
                    break
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            if result.status != "ok":
                break
        t2 = time.perf_counter()
        result.train_time_s = t2 - t1
        result.train_loss = float(np.mean(losses)) if losses else math.nan
        if result.status == "ok":
            trained = extract_weights(model)
            if not all(np.isfinite(a).all() for a in trained.arrays()):
                result.status, result.message = "diverged", "non-finite weights after training"
            else:
                result.weights = trained
                result.fitness = score(data.eval_images, data.eval_labels)
                if data.test_images is not None and data.test_labels is not None:
                    result.test_accuracy = score(data.test_images, data.test_labels)
                else:
                    result.test_accuracy = result.fitness
        result.eval_time_s = (t1 - t0) + (time.perf_counter() - t2)
    except Exception as exc:  # a failing network is data, not a crash
        result.status = "error"
        result.message = f"{type(exc).__name__}: {exc}"[:500]
        result.extra["traceback"] = traceback.format_exc(limit=5)
        result.weights = weights
    if result.status != "ok":
        result.fitness = 0.0
        result.test_accuracy = result.test_accuracy if result.test_accuracy is not None else 0.0
    return result


__all__ = [
    "OPTIMISERS",
    "DataArrays",
    "TrainResult",
    "TrainSettings",
    "accuracy",
    "train_and_evaluate",
]
