"""Fixtures of the dataset tests: real MNIST and Fashion-MNIST, and the checks every loaded dataset passes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ecosim.data.load import load_dataset
from ecosim.data.record import ImageDataset


@pytest.fixture(scope="module")
def mnist(data_root: Path) -> ImageDataset:
    return load_dataset("mnist", data_root)


@pytest.fixture(scope="module")
def fashion(data_root: Path) -> ImageDataset:
    return load_dataset("fashion-mnist", data_root)


@pytest.fixture
def check_arrays() -> Callable[..., None]:
    """``check_arrays(ds, n_train, n_test, (C, H, W), classes)``: shapes, dtypes, contiguity."""
    return _check_arrays


def _check_arrays(ds: ImageDataset, n_train: int, n_test: int, shape: tuple[int, int, int], classes: int) -> None:
    assert ds.train_images.shape == (n_train, *shape)
    assert ds.test_images.shape == (n_test, *shape)
    assert ds.train_labels.shape == (n_train,)
    assert ds.test_labels.shape == (n_test,)
    assert ds.train_images.dtype == np.uint8 and ds.test_images.dtype == np.uint8
    assert ds.train_labels.dtype == np.int64 and ds.test_labels.dtype == np.int64
    for array in (ds.train_images, ds.test_images, ds.train_labels, ds.test_labels):
        assert array.flags["C_CONTIGUOUS"]
    assert ds.input_shape == shape
    assert ds.classes == classes
    assert len(ds.mean) == len(ds.std) == shape[0]
