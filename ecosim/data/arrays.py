"""The arrays a run trains and scores on: training set, fitness set (test set or a validation split), test set.

Paper §III-B, §IV: fitness is test accuracy; ``data.validation_fraction`` optionally holds out a
part of the training set for fitness instead (test accuracy is then reported separately).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ecosim.data.load import load_dataset
from ecosim.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataArrays:
    """Dataset as uint8 arrays, shipped once per run through Ray's object store.

    Attributes:
        train_images: ``(N_train, C, H, W)`` uint8. train_labels: ``(N_train,)`` int64.
        eval_images, eval_labels: the fitness set (test set, or a validation split).
        test_images, test_labels: the test set when it differs from the fitness set, else ``None``.
        mean, std: per-channel normalisation in [0, 1] pixel units.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    eval_images: np.ndarray
    eval_labels: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None


class DataSection(Protocol):
    """What :func:`prepare_data` reads of the ``[data]`` section (:class:`ecosim.config.DataConfig`)."""

    @property
    def dataset(self) -> str: ...
    @property
    def data_root(self) -> str: ...
    @property
    def validation_fraction(self) -> float: ...
    @property
    def test_subset(self) -> int: ...


class RunSection(Protocol):
    """What :func:`prepare_data` reads of the ``[run]`` section: the seed of the validation split."""

    @property
    def seed(self) -> int: ...


class DataSettings(Protocol):
    """A configuration as :func:`prepare_data` reads it (:class:`ecosim.config.Config` is one); data/
    names no config module, so the packages below it (phenotype/) may use :class:`DataArrays`."""

    @property
    def data(self) -> DataSection: ...
    @property
    def run(self) -> RunSection: ...


#: seed of the ``data.test_subset`` draw: fixed, so every run (any seed) scores on the same images
SUBSET_SEED = 0x7E57


def prepare_data(config: DataSettings) -> tuple[DataArrays, tuple[int, int, int], int]:
    """Load the dataset of ``config`` and split it into training / fitness / test arrays.

    With ``data.validation_fraction`` > 0, that fraction of the training set (drawn with the run
    seed) is held out for fitness and the test set is reported separately. ``data.test_subset``
    keeps N fitness (and test) images drawn at random with the fixed :data:`SUBSET_SEED` (a set
    stored class by class, like the CIFAR-10 tarball, stays balanced); an N above the fitness set's size warns and
    keeps every image (the same as 0).

    Returns:
        ``(DataArrays, (C, H, W), classes)``.

    Raises:
        ConfigError: unknown dataset name; a ``data.validation_fraction`` that leaves fewer training
            or validation images than classes. DatasetError: files missing (message says where).
    """
    d = config.data
    ds = load_dataset(d.dataset, d.data_root or None)
    train_x, train_y = ds.train_images, ds.train_labels
    test_x, test_y = ds.test_images, ds.test_labels
    eval_x, eval_y = test_x, test_y
    separate_test = False
    if d.validation_fraction > 0:
        rng = np.random.default_rng([config.run.seed, 0xDA7A])
        perm = rng.permutation(len(train_y))
        n_val = max(1, int(round(d.validation_fraction * len(train_y))))
        _check_split(d.validation_fraction, len(train_y) - n_val, n_val, int(ds.classes), d.dataset)
        val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        eval_x, eval_y = train_x[val], train_y[val]
        train_x, train_y = train_x[tr], train_y[tr]
        separate_test = True
    if d.test_subset > len(eval_y):
        log.warning(
            "config 'data.test_subset' = %d exceeds the %d %s images of %s: all %d are used",
            d.test_subset,
            len(eval_y),
            "validation" if separate_test else "test",
            d.dataset,
            len(eval_y),
        )
    if d.test_subset:  # a random subset, the same for every run: sets stored class by class stay balanced
        keep = np.sort(np.random.default_rng(SUBSET_SEED).permutation(len(eval_y))[: d.test_subset])
        eval_x, eval_y = eval_x[keep], eval_y[keep]
        if separate_test:
            keep = np.sort(np.random.default_rng(SUBSET_SEED).permutation(len(test_y))[: d.test_subset])
            test_x, test_y = test_x[keep], test_y[keep]
    data = DataArrays(
        train_images=np.ascontiguousarray(train_x),
        train_labels=np.ascontiguousarray(train_y),
        eval_images=np.ascontiguousarray(eval_x),
        eval_labels=np.ascontiguousarray(eval_y),
        mean=tuple(ds.mean),
        std=tuple(ds.std),
        test_images=np.ascontiguousarray(test_x) if separate_test else None,
        test_labels=np.ascontiguousarray(test_y) if separate_test else None,
    )
    return data, tuple(ds.input_shape), int(ds.classes)  # type: ignore[return-value]


__all__ = ["DataArrays", "prepare_data"]


def _check_split(fraction: float, n_train: int, n_val: int, classes: int, dataset: str) -> None:
    """A validation split that leaves fewer images than classes on either side cannot train or
    select anything (``--validation-fraction 0.99999`` trained on one image): a one-line error.

    Raises:
        ConfigError: either part holds fewer than ``classes`` images (the valid range named).
    """
    if n_train >= classes and n_val >= classes:
        return
    total = n_train + n_val
    raise ConfigError(
        f"config 'data.validation_fraction' = {fraction:g} is invalid: it leaves {n_train:,} training and "
        f"{n_val:,} validation images of {dataset}'s {total:,}, and each part needs at least {classes} "
        f"(one per class): give a value in [{_rounded(classes / total, up=True)}, "
        f"{_rounded(1 - classes / total, up=False)}], or 0 for the paper's fitness on the test set"
    )


def _rounded(x: float, up: bool) -> str:
    """``x`` (> 0) to 6 significant digits, rounded up or down, so a range's printed ends lie inside it."""
    step = 10.0 ** (math.floor(math.log10(x)) - 5)
    return f"{(math.ceil(x / step) if up else math.floor(x / step)) * step:.6g}"
