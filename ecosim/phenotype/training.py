"""Training and scoring of one network by backpropagation (paper §III-B, §IV). Torch only, no Ray.

Each generation a network trains on a fresh random subset (``train_fraction``, 10% by default)
of the training set with minibatches of 128 and Adadelta, then is scored on the evaluation set
(test set by default). New offspring are also scored before training ("fitness before BP").
Training batches are uint8 slices normalised on the device (:mod:`ecosim.phenotype.normalise`);
the fitness and test sets are normalised once per worker process and scored in inference mode.
How each phase is computed (conv mode, memory format) is measured on the machine, per shape class
(:mod:`ecosim.phenotype.layout`), among layouts that compute the same bits; so is whether a
scoring chunk is one forward pass or two (:mod:`ecosim.phenotype.eval_split`).
A failing network never raises: a non-finite loss gives status ``diverged``, any exception
status ``error``; both score fitness 0.
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ecosim.data.arrays import DataArrays
from ecosim.genome import Genome, Weights
from ecosim.phenotype.eval_split import eval_passes
from ecosim.phenotype.layout import Layout, PhaseTuner, apply_layout, clock, layout_chooser
from ecosim.phenotype.normalise import apply_normalisation, normalisation_constants, standardised
from ecosim.phenotype.records import TrainingParams, TrainResult
from ecosim.phenotype.registry import DEFAULT_LEARNING_RATES, OPTIMISERS


def _device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


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
            the slicing produces (default channels-first).

    Yields:
        ``(x, y)``: x ``(B, C, H, W)`` float32 normalised, y ``(B,)`` int64, with ``B ≤ size``.
    """
    scale, shift = normalisation_constants(mean, std, 255.0, device)
    for x, y in _uint8_batches(images, labels, idx, size, device):
        yield apply_normalisation(x, scale, shift, memory_format), y


def _uint8_batches(
    images: np.ndarray, labels: np.ndarray, idx: np.ndarray, size: int, device: torch.device
) -> Iterator[tuple[Tensor, Tensor]]:
    """``(images[sel], labels[sel])`` as tensors on ``device`` for each ``sel = idx[k·size:(k+1)·size]``."""
    with warnings.catch_warnings():  # Ray's zero-copy arrays are read-only; they are only read
        warnings.simplefilter("ignore", UserWarning)
        x_all, y_all = torch.as_tensor(images), torch.as_tensor(labels)
    order = torch.as_tensor(np.asarray(idx, dtype=np.int64))
    for start in range(0, len(order), size):
        sel = order[start : start + size]
        yield x_all.index_select(0, sel).to(device), y_all.index_select(0, sel).to(device)


@torch.no_grad()
def accuracy(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    eval_batch_size: int = TrainingParams.eval_batch_size,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> float:
    """Fraction of ``images`` classified as ``labels``, in [0, 1] (§III-B: fitness is test accuracy).

    One fixed layout (``memory_format``, the model's conv modes); a training task scores with
    the measured one instead (:func:`train_and_evaluate`), which only uses layouts verified to
    compute the reference's bits. Beware channels-last here: torch 2.14's CPU conv computes it
    wrongly for a stride as wide as a 1-channel input (e.g. ``(1, 9)`` on 9×9 with 3×3 kernels).

    Args:
        model: maps ``(B, C, H, W)`` float32 to ``(B, classes)`` scores; set to eval mode here.
        images: ``(N, C, H, W)`` uint8. labels: ``(N,)`` int64.
        mean, std: per-channel normalisation constants of the dataset.
        eval_batch_size: images per forward pass (default ``TrainingParams.eval_batch_size``).
        memory_format: strides of the batches (default channels-first).

    Returns:
        ``correct / N`` (0.0 for ``N = 0``).
    """
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for x, y in batches(images, labels, np.arange(len(labels)), eval_batch_size, mean, std, device, memory_format):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(1, len(labels))


@torch.inference_mode()
def score(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    eval_batch_size: int,
    tuner: PhaseTuner,
    passes: int = 1,
) -> float:
    """Accuracy of ``model`` on ``images`` in the layout ``tuner`` measures, in inference mode.

    The images are standardised once per process (:func:`~ecosim.phenotype.normalise.standardised`):
    a batch is a slice. They are scored in chunks of ``eval_batch_size``, each full chunk in
    ``passes`` forward passes of equal size, the last partial chunk in one pass in the reference
    layout. Every layout ``tuner`` may pick computes the same log-probabilities bit for bit, and
    ``passes > 1`` is used only where verified to as well
    (:func:`~ecosim.phenotype.eval_split.eval_passes`), so the result does not depend on either.

    Args:
        model: a :class:`~ecosim.phenotype.network.Phenotype` (its conv modes are set here).
        images: ``(N, C, H, W)`` uint8. labels: ``(N,)`` int64.
        mean, std: per-channel normalisation constants.
        eval_batch_size: images per chunk.
        tuner: the evaluation tuner of the model's shape class, for batches of
            ``eval_batch_size // passes`` images.
        passes: forward passes per full chunk (a divisor of ``eval_batch_size``).

    Returns:
        ``correct / N`` in [0, 1] (0.0 for ``N = 0``).

    Raises:
        ValueError: ``passes`` does not divide ``eval_batch_size``.
    """
    if passes < 1 or eval_batch_size % passes:
        raise ValueError(f"passes must divide eval_batch_size ({eval_batch_size}), got {passes}")
    model.eval()
    device = next(model.parameters()).device
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        y_all = torch.as_tensor(labels).to(device)
    data = {}  # memory format name → standardised images

    def batch(layout: Layout, start: int, size: int) -> Tensor:
        if layout.memory_format not in data:
            data[layout.memory_format] = standardised(images, mean, std, device, layout.torch_format)
        return data[layout.memory_format][start : start + size]

    step = eval_batch_size // passes
    whole = len(y_all) - len(y_all) % eval_batch_size  # images in full chunks
    starts = [*range(0, whole, step), *([whole] if whole < len(y_all) else [])]
    correct, current = 0, None
    for start in starts:
        size = step if start < whole else len(y_all) - whole
        y = y_all[start : start + size]
        if start >= whole:  # the partial chunk: torch may run other kernels on another size: the reference
            if current != tuner.reference:
                apply_layout(model, tuner.reference)
                current = tuner.reference
            out = model(batch(tuner.reference, start, size))
        elif tuner.verifying:
            outs = {}
            for layout in tuner.candidates:
                apply_layout(model, layout)
                outs[layout] = (model(batch(layout, start, size)),)
            current = None
            tuner.verify(outs)
            out = outs[tuner.reference][0]
        else:
            layout = tuner.layout()
            if layout != current:
                apply_layout(model, layout)
                current = layout
            if tuner.winner is None:  # timed until decided
                t0 = tuner.clock()
                out = model(batch(layout, start, size))
                tuner.record(layout, tuner.clock() - t0)
            else:
                out = model(batch(layout, start, size))
        correct += int((out.argmax(1) == y).sum())
    return correct / max(1, len(y_all))


class _Stepper:
    """Forward and backward of one training batch in the layout the training tuner measures.

    Call with uint8 images and labels; returns the loss, with the gradients in ``.grad`` when it
    is finite. The first full batch of a new shape class is computed with every candidate layout
    (:meth:`PhaseTuner.verify`; the reference's gradients are kept); a batch of another size runs
    the reference; full batches are timed until the tuner has decided.
    """

    def __init__(self, model: torch.nn.Module, tuner: PhaseTuner, scale: Tensor, shift: Tensor) -> None:
        self.model, self.tuner, self.scale, self.shift = model, tuner, scale, shift
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.current: Layout | None = None

    def _loss(self, layout: Layout, xb: Tensor, y: Tensor) -> Tensor:
        if layout != self.current:
            apply_layout(self.model, layout)
            self.current = layout
        return F.nll_loss(self.model(apply_normalisation(xb, self.scale, self.shift, layout.torch_format)), y)

    def __call__(self, xb: Tensor, y: Tensor, full: bool) -> Tensor:
        tuner = self.tuner
        if full and tuner.verifying:
            loss = self._loss(tuner.reference, xb, y)
            if torch.isfinite(loss.detach()):  # a diverged network decides nothing
                loss.backward()
                found: dict[Layout, tuple[Tensor | None, ...]] = {
                    tuner.reference: (loss.detach(), *(p.grad for p in self.params))
                }
                for layout in tuner.candidates[1:]:
                    other = self._loss(layout, xb, y)
                    grads = torch.autograd.grad(other, self.params, allow_unused=True)
                    found[layout] = (other.detach(), *grads)
                tuner.verify(found)
            return loss
        layout = tuner.layout() if full else tuner.reference
        timed = full and tuner.winner is None
        c0 = tuner.clock() if timed else 0.0
        loss = self._loss(layout, xb, y)
        loss.backward()  # a non-finite loss is caught by the caller; its gradients are never used
        if timed:
            tuner.record(layout, tuner.clock() - c0)
        return loss


def train_and_evaluate(
    genome: Genome,
    weights: Weights,
    data: DataArrays,
    settings: TrainingParams,
    seed: int,
    evaluate_before: bool,
    threads: int = 1,
    lr_scale: float = 1.0,
) -> TrainResult:
    """Score (optionally), train on a random subset, and score one network (§III-B).

    Args:
        genome, weights: the network.
        data: the dataset arrays.
        settings: optimiser, batch size, subset fraction, ...
        seed: seeds the subset draw and torch (derived from run seed, generation, network id).
        evaluate_before: also score before training (new offspring).
        threads: torch threads (a task's CPUs, ``resources.cpus_per_task``; at least 1).
        lr_scale: factor on the learning rate (``settings.learning_rate``, or the optimiser's own
            default when that is 0); the ecosystem lowers it after the settle point
            (``ecosystem.settle_lr_decay``). 1: unchanged.

    Returns:
        :class:`TrainResult`; never raises for a failing network.
    """
    from ecosim.phenotype.network import build_phenotype, extract_weights

    threads = max(1, threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed % (2**63))
    result = TrainResult(weights=weights)
    device = _device()
    try:
        model = build_phenotype(genome, weights, activation=settings.activation, conv_mode=settings.conv_mode).to(
            device
        )
        chooser = layout_chooser()

        def tuner(phase: str, size: int) -> PhaseTuner:
            return chooser.tuner(genome, phase, size, settings.conv_mode, settings.memory_format, threads, device)

        chunk = settings.eval_batch_size
        evaluation: list[tuple[int, PhaseTuner]] = []  # (passes per chunk, tuner): decided on first use

        def first_chunk(layout: Layout) -> Tensor:
            return standardised(data.eval_images, data.mean, data.std, device, layout.torch_format)[:chunk]

        def evaluate(images: np.ndarray, labels: np.ndarray) -> float:
            if not evaluation:
                passes = eval_passes(
                    settings.eval_split,
                    chooser,
                    genome,
                    model,
                    first_chunk if len(data.eval_labels) >= chunk else None,
                    genome.layers[-1].nodes,
                    chunk,
                    settings.conv_mode,
                    settings.memory_format,
                    threads,
                    device,
                    clock(device, threads),
                )
                evaluation.append((passes, tuner("eval", chunk // passes)))
            passes, eval_tuner = evaluation[0]
            result.eval_images += len(labels)
            return score(model, images, labels, data.mean, data.std, chunk, eval_tuner, passes)

        t0 = time.perf_counter()
        if evaluate_before:
            result.fitness_before_bp = evaluate(data.eval_images, data.eval_labels)
        t1 = time.perf_counter()
        n = len(data.train_labels)
        k = max(1, int(round(settings.train_fraction * n)))
        lr = settings.learning_rate or DEFAULT_LEARNING_RATES.get(settings.optimiser)
        opt = OPTIMISERS.get_valid(settings.optimiser)(model.parameters(), **({"lr": lr} if lr else {}))
        if lr_scale != 1.0:
            for group in opt.param_groups:
                group["lr"] *= lr_scale
        losses = []
        model.train()
        step = _Stepper(
            model, tuner("train", settings.batch_size), *normalisation_constants(data.mean, data.std, 255.0, device)
        )
        for _ in range(settings.epochs):
            idx = rng.choice(n, size=k, replace=False)
            for xb, y in _uint8_batches(data.train_images, data.train_labels, idx, settings.batch_size, device):
                opt.zero_grad(set_to_none=True)
                loss = step(xb, y, full=len(y) == settings.batch_size)
                value = float(loss.detach())
                if not math.isfinite(value):
                    result.status, result.message = "diverged", f"non-finite training loss {value}"
                    break
                opt.step()
                losses.append(value)
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
                result.fitness = evaluate(data.eval_images, data.eval_labels)
                if data.test_images is not None and data.test_labels is not None:
                    result.test_accuracy = evaluate(data.test_images, data.test_labels)
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
    "TrainResult",
    "accuracy",
    "batches",
    "score",
    "train_and_evaluate",
]
