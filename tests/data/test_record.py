"""The dataset record (ecosim.data.record): validation, pickling for the object store."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from ecosim.data.record import ImageDataset
from ecosim.errors import DatasetError


def test_image_dataset_validates_and_is_frozen():
    images = np.zeros((4, 1, 2, 2), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0], dtype=np.int64)
    ds = ImageDataset("x", images, labels, images, labels, 3, (0.5,), (0.25,))
    assert ds.input_shape == (1, 2, 2)
    assert "input_shape=(1, 2, 2)" in repr(ds)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.classes = 4  # type: ignore[misc]
    with pytest.raises(DatasetError, match="int64"):
        ImageDataset("x", images, labels.astype(np.int32), images, labels, 3, (0.5,), (0.25,))
    with pytest.raises(DatasetError, match="outside"):
        ImageDataset("x", images, labels, images, labels, 2, (0.5,), (0.25,))
    with pytest.raises(DatasetError, match="1 values each"):
        ImageDataset("x", images, labels, images, labels, 3, (0.5, 0.5), (0.25, 0.25))


def test_dataset_pickles_for_the_object_store(mnist):
    restored = pickle.loads(pickle.dumps(mnist, protocol=5))
    assert restored.name == mnist.name and restored.input_shape == mnist.input_shape
    np.testing.assert_array_equal(restored.test_images, mnist.test_images)
    np.testing.assert_array_equal(restored.test_labels, mnist.test_labels)
