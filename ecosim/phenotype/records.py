"""Plain records exchanged with training tasks: settings and results. No torch.

The species actors and the coordinator import these without loading torch, so a new species
actor starts in about a second instead of paying torch's import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ecosim.errors import ConfigError
from ecosim.genome import Weights
from ecosim.phenotype.registry import ACTIVATIONS, CONV_MODES, EVAL_SPLITS, MEMORY_FORMATS, OPTIMISERS


@dataclass(frozen=True)
class TrainingParams:
    """Backpropagation settings of one network (paper §III-B, §IV); the ``[training]`` config section.

    Args:
        optimiser: one of :data:`ecosim.phenotype.registry.OPTIMISERS` (default ``adadelta``).
        learning_rate: 0 → the optimiser's own default (Adadelta: 1.0).
        batch_size: minibatch size (128).
        train_fraction: fraction of the training set drawn afresh per network per generation (0.1).
        epochs: passes over that subset per generation (1).
        activation: one of :data:`ecosim.phenotype.registry.ACTIVATIONS` (default ``relu``).
        eval_batch_size: images per scoring chunk (256: measured with ``bench/bench_eval.py`` on
            one CPU thread, 128–256 were fastest for every network tried and 1000 was 2–3.4×
            slower on conv networks; see ``docs/design.md``). The fitness and test sets are
            scored in chunks of this many images, the last one partial.
        eval_split: forward passes per full scoring chunk: ``auto`` (the faster of one pass and
            two halves, measured once per machine; halves only for networks that compute the
            same bits both ways), ``whole`` (one pass, as ecosim ≤ 0.4) or ``halves`` (where
            verified). Results never depend on it (``docs/design.md``, Evaluation split).
        conv_mode: mixed-shape conv implementation, one of
            :data:`ecosim.phenotype.registry.CONV_MODES`: ``auto`` (measured on the machine, per
            shape class and phase, among the modes that compute the same bits as ``dense``:
            :mod:`ecosim.phenotype.layout`), or pinned ``dense`` or ``grouped`` (grouped
            training rounds differently from dense).
        memory_format: strides of the batches, one of
            :data:`ecosim.phenotype.registry.MEMORY_FORMATS`: ``auto`` (measured like
            ``conv_mode``, separately for training and evaluation), or pinned
            ``channels_first`` or ``channels_last``.

    Raises:
        ConfigError: a value out of range or not among its choices, naming ``training.<key>``.
    """

    optimiser: str = "adadelta"
    learning_rate: float = 0.0
    batch_size: int = 128
    train_fraction: float = 0.1
    epochs: int = 1
    activation: str = "relu"
    eval_batch_size: int = 256
    eval_split: str = "auto"
    conv_mode: str = "auto"
    memory_format: str = "auto"

    def __post_init__(self) -> None:
        ranges = (
            ("learning_rate", 0 <= self.learning_rate < math.inf, "a finite number ≥ 0 (0 = optimiser default)"),
            ("batch_size", self.batch_size >= 1, "≥ 1"),
            ("train_fraction", 0.0 < self.train_fraction <= 1.0, "in (0, 1]"),
            ("epochs", self.epochs >= 1, "≥ 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "≥ 1"),
        )
        choices = (
            ("optimiser", OPTIMISERS),
            ("activation", ACTIVATIONS),
            ("conv_mode", CONV_MODES),
            ("memory_format", MEMORY_FORMATS),
            ("eval_split", EVAL_SPLITS),
        )
        checks = [*ranges, *((k, getattr(self, k) in c, "one of " + ", ".join(c)) for k, c in choices)]
        for key, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"config 'training.{key}' = {getattr(self, key)!r} is invalid: must be {allowed}")


@dataclass
class TrainResult:
    """Outcome of one network's generation.

    Attributes:
        weights: trained weights (the input weights when training failed).
        fitness: accuracy on the fitness set, fraction in [0, 1]; 0 on failure.
        fitness_before_bp: accuracy before training (offspring only), else ``None``.
        test_accuracy: accuracy on the test set (equals ``fitness`` without a validation split).
        train_loss: mean minibatch NLL (nats); NaN if not trained.
        train_time_s, eval_time_s: wall seconds.
        status: ``ok``, ``diverged`` or ``error``; message: details for non-ok.
        train_images: images trained on (samples over all epochs; compute accounting, issue 17).
        eval_images: images scored (before BP, fitness set, test set), each pass counted.
    """

    weights: Weights
    fitness: float = 0.0
    fitness_before_bp: float | None = None
    test_accuracy: float | None = None
    train_loss: float = math.nan
    train_time_s: float = 0.0
    eval_time_s: float = 0.0
    status: str = "ok"
    message: str = ""
    train_images: int = 0
    eval_images: int = 0
    extra: dict = field(default_factory=dict)


__all__ = ["TrainResult", "TrainingParams"]
