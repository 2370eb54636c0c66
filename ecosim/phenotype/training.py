"""Training and scoring of one network by backpropagation (paper §III-B, §IV). Torch only, no Ray.

Each generation a network trains on a fresh random subset (``train_fraction``, 10% by default)
of the training set with minibatches of 128 and Adadelta, then is scored on the evaluation set
(test set by default). New offspring are also scored before training ("fitness before BP").
Batches are uint8 slices normalised on the device (:mod:`ecosim.phenotype.normalise`), in the
memory format :func:`memory_format_for` chooses.
A failing network never raises: a non-finite loss gives status ``diverged``, any exception
status ``error``; both score fitness 0.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ecosim.genome import Genome, Weights
from ecosim.phenotype.normalise import apply_normalisation, normalisation_constants
from ecosim.phenotype.records import DataArrays, TrainingParams, TrainResult, TrainSettings
from ecosim.phenotype.registry import DEFAULT_LEARNING_RATES, OPTIMISERS


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


#: Fewest conv layers for which batches go channels-last (see :func:`memory_format_for`).
CHANNELS_LAST_MIN_CONV = 2


def memory_format_for(genome: Genome) -> torch.memory_format:
    """The memory format of the batches fed to ``genome``'s phenotype: a deliberate choice.

    ``torch.channels_last`` when the genome has at least :data:`CHANNELS_LAST_MIN_CONV` (2) conv
    layers, else ``torch.contiguous_format`` (channels-first). A CPU convolution runs channels-last
    when its input is, and that pays off in a conv fed by another conv (many input channels) but
    costs a reorder before the flatten and on the first, few-channel conv. Measured with
    ``bench/bench_eval.py`` (one thread, ``docs/design.md``, Training): channels-last made
    ``C10[3x3]-F10`` 1.25× (MNIST) and 1.8× (3×32×32) slower to train, and
    ``C10[3x3]-C20s2[3x3]-F10`` 1.2–1.3× faster; MLPs take no 4-D path. Left to itself, the
    layout depended on the dataset's array strides: NumPy slices of MNIST's ``(N, 1, 28, 28)``
    arrays (zero channel stride) came out channels-last, CIFAR-10's channels-first.

    >>> from ecosim.genome import ConvLayer, DenseLayer
    >>> memory_format_for(Genome((1, 8, 8), (ConvLayer(((1, 1),)), DenseLayer(2)))) == torch.contiguous_format
    True
    """
    return torch.channels_last if genome.n_conv >= CHANNELS_LAST_MIN_CONV else torch.contiguous_format


def batches(
    images: np.ndarray,
    labels: np.ndarray,
    idx: np.ndarray,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Normalised minibatches ``images[idx[k:k+size]]``, in ``idx`` order (§III-B).

    Args:
        images: ``(N, C, H, W)`` uint8. labels: ``(N,)`` int64.
        idx: ``(M,)`` indices into ``images``; batch ``k`` holds ``idx[k·size:(k+1)·size]``.
        size: images per batch (the last batch may be smaller).
        mean, std: per-channel normalisation (:func:`~ecosim.phenotype.normalise.normalise`).
        device: where the batches go (uint8 travels, the float32 conversion happens there).
        memory_format: strides of the float batch, set explicitly rather than left to whatever
            the slicing produces (:func:`memory_format_for`; default channels-first).

    Yields:
        ``(x, y)``: x ``(B, C, H, W)`` float32 normalised, y ``(B,)`` int64, with ``B ≤ size``.
    """
    scale, shift = normalisation_constants(mean, std, 255.0, device)
    for start in range(0, len(idx), size):
        sel = idx[start : start + size]
        x = torch.from_numpy(np.ascontiguousarray(images[sel])).to(device)
        y = torch.from_numpy(np.ascontiguousarray(labels[sel])).to(device)
        yield apply_normalisation(x, scale, shift, memory_format), y


@torch.no_grad()
def accuracy(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = TrainingParams.eval_batch_size,
    memory_format: torch.memory_format | None = None,
) -> float:
    """Fraction of ``images`` classified as ``labels``, in [0, 1] (§III-B: fitness is test accuracy).

    Args:
        model: maps ``(B, C, H, W)`` float32 to ``(B, classes)`` scores; set to eval mode here.
        images: ``(N, C, H, W)`` uint8. labels: ``(N,)`` int64.
        mean, std: per-channel normalisation constants of the dataset.
        batch_size: images per forward pass (default ``TrainingParams.eval_batch_size``).
        memory_format: strides of the batches; ``None`` → :func:`memory_format_for` the model's
            ``genome`` (channels-first for a model without one).

    Returns:
        ``correct / N`` (0.0 for ``N = 0``).
    """
    model.eval()
    device = next(model.parameters()).device
    if memory_format is None:
        genome = getattr(model, "genome", None)
        memory_format = memory_format_for(genome) if isinstance(genome, Genome) else torch.contiguous_format
    correct = 0
    for x, y in batches(images, labels, np.arange(len(labels)), batch_size, mean, std, device, memory_format):
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
            result.eval_images += len(labels)
            return accuracy(model, images, labels, data.mean, data.std, settings.eval_batch_size)

        t0 = time.perf_counter()
        if evaluate_before:
            result.fitness_before_bp = score(data.eval_images, data.eval_labels)
        t1 = time.perf_counter()
        n = len(data.train_labels)
        k = max(1, int(round(settings.train_fraction * n)))
        lr = settings.learning_rate or DEFAULT_LEARNING_RATES.get(settings.optimiser)
        opt = OPTIMISERS.get_valid(settings.optimiser)(model.parameters(), **({"lr": lr} if lr else {}))
        losses = []
        model.train()
        for _ in range(settings.epochs):
            idx = rng.choice(n, size=k, replace=False)
            for x, y in batches(
                data.train_images,
                data.train_labels,
                idx,
                settings.batch_size,
                data.mean,
                data.std,
                device,
                memory_format_for(genome),
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
                result.train_images += len(y)
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
    "CHANNELS_LAST_MIN_CONV",
    "OPTIMISERS",
    "DataArrays",
    "TrainResult",
    "TrainSettings",
    "accuracy",
    "batches",
    "memory_format_for",
    "train_and_evaluate",
]
