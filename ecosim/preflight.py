"""Checks of a run's settings against its dataset, before any work (no run directory, no Ray).

What the config alone cannot check (:func:`ecosim.config.validate_config` does the rest): the
initial layers on the real input shape, the images a network trains on per generation, whether the
initial species can be founded (§III-A), and settings that work but not as a user may expect (one
warning line each). Pure: no torch, no Ray.
"""

from __future__ import annotations

import logging

from ecosim.config import Config
from ecosim.data.arrays import DataArrays
from ecosim.errors import ConfigError, GenomeError
from ecosim.evolution.initial import initial_networks, starting_genome
from ecosim.evolution.scheduling import workload_of

log = logging.getLogger(__name__)


def check_before_work(config: Config, data: DataArrays, input_shape: tuple[int, int, int], classes: int) -> None:
    """Every check of this module, in the order a user would fix them: initial layers, training
    images, warnings, initial species.

    Args:
        config: the resolved config. data, input_shape ``(C, H, W)``, classes: the prepared dataset
            (:func:`ecosim.data.arrays.prepare_data`).

    Raises:
        ConfigError: a setting that cannot work on this dataset (one line naming it).
        EcosimError: the initial species cannot be founded (the message says why).
    """
    check_initial_layers(config, input_shape, classes)
    check_training_subset(config, data, classes)
    warn_inexact_growth(config)
    check_initial_species(config, input_shape, classes)


def check_initial_species(config: Config, input_shape: tuple[int, int, int], classes: int) -> None:
    """With speciation, the initial species can be founded (§III-A), before any work: the same pure,
    seeded draw the coordinator makes (e.g. ``mutation.family_weights`` that weigh no
    species-changing mutation cannot found them).

    Raises:
        EcosimError: ``ecosystem.species`` distinct species cannot be reached (the message says why).
    """
    if config.ecosystem.speciation:
        initial_networks(input_shape, classes, config.ecosystem, config.mutation, config.run.seed)


def check_training_subset(config: Config, data: DataArrays, classes: int) -> None:
    """Each network trains on ``training.train_fraction`` of the training images a generation; fewer
    images than classes cannot train anything (a validation split that left 10 training images
    trained on 1, silently: helper 37).

    Raises:
        ConfigError: fewer than ``classes`` images per training, naming both fractions.
    """
    fraction, n_train = config.training.train_fraction, len(data.train_labels)
    per_training = workload_of(n_train, 0, 0, fraction, 1).train_images
    if per_training >= classes:
        return
    split = config.data.validation_fraction
    left = f" that data.validation_fraction = {split:g} leaves" if split else ""
    raise ConfigError(
        f"config 'training.train_fraction' = {fraction:g} is invalid: it trains each network on {per_training:,} "
        f"images a generation ({fraction:g} of the {n_train:,} training images{left}), and at least {classes} "
        f"(one per class) are needed: raise training.train_fraction"
        + (" or lower data.validation_fraction" if split else "")
    )


def warn_inexact_growth(config: Config) -> None:
    """``mutation.function_preserving`` keeps a new layer's function through ReLU alone (its identity is
    ReLU(x) − ReLU(−x) = x): with another ``training.activation`` one warning line says what stays exact."""
    activation = config.training.activation
    if config.mutation.function_preserving and activation != "relu":
        log.warning(
            "mutation.function_preserving with training.activation = %r: new nodes and grown kernels keep the "
            "parent's function exactly, a new layer does not (its identity needs relu)",
            activation,
        )


def check_initial_layers(config: Config, input_shape: tuple[int, int, int], classes: int) -> None:
    """``ecosystem.initial_layers`` on the dataset's real input ``(C, H, W)``, before any work.

    Raises:
        ConfigError: a kernel or stride that does not fit the input (config only checks syntax).
    """
    e = config.ecosystem
    if not e.initial_layers:
        return
    try:
        starting_genome(input_shape, classes, e, config.mutation, config.run.seed)
    except GenomeError as exc:
        raise ConfigError(
            f"config 'ecosystem.initial_layers' = {e.initial_layers!r} does not fit {config.data.dataset} "
            f"images {input_shape}: {exc}"
        ) from exc
    last = e.initial_layers.strip().rsplit("-", 1)[-1].strip()
    if last.upper() == f"F{classes}":  # e.g. a logged `layers` string pasted back: it holds the output layer
        log.warning(
            "ecosystem.initial_layers = %r ends in %s, which becomes a hidden layer: the output layer "
            "(F%d, one neuron per class) is added after it; leave it out unless you want that hidden layer",
            e.initial_layers,
            last,
            classes,
        )


__all__ = [
    "check_before_work",
    "check_initial_layers",
    "check_initial_species",
    "check_training_subset",
    "warn_inexact_growth",
]
