"""The MNIST family (ecosim.data.mnist): real MNIST and Fashion-MNIST, EMNIST on IDX files written here."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from ecosim.data.load import load_dataset
from ecosim.data.record import ImageDataset


@pytest.mark.parametrize(
    "fixture_name, name, mean, std",
    [
        ("mnist", "mnist", (0.1307,), (0.3081,)),
        ("fashion", "fashion-mnist", (0.2860,), (0.3530,)),
    ],
)
def test_mnist_family_shapes_and_labels(check_arrays, request, fixture_name, name, mean, std):
    ds: ImageDataset = request.getfixturevalue(fixture_name)
    assert ds.name == name
    check_arrays(ds, 60000, 10000, (1, 28, 28), 10)
    assert ds.mean == mean and ds.std == std
    for labels, n in ((ds.train_labels, 60000), (ds.test_labels, 10000)):
        assert labels.min() >= 0 and labels.max() < 10
        counts = np.bincount(labels, minlength=10)
        assert len(counts) == 10 and (counts > 0).all()  # all 10 classes present
        assert counts.sum() == n
    # the images are real digits/clothes, not blank: plenty of ink and of background
    assert 0.05 < (ds.train_images > 128).mean() < 0.6


def test_mnist_first_images_match_the_idx_file(mnist, data_root):
    raw = (data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()
    first = np.frombuffer(raw, dtype=np.uint8, count=2 * 28 * 28, offset=16).reshape(2, 28, 28)
    np.testing.assert_array_equal(mnist.train_images[:2, 0], first)
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first labels


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def test_emnist_images_are_transposed_upright(check_arrays, tmp_path):
    rng = np.random.default_rng(1)
    raw = tmp_path / "EMNIST" / "raw"
    raw.mkdir(parents=True)
    upright = {}
    for split, n in (("train", 12), ("test", 5)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 47, size=n, dtype=np.uint8)
        upright[split] = (images, labels)
        # the EMNIST files store each image transposed
        _write_idx(raw / f"emnist-balanced-{split}-images-idx3-ubyte", images.transpose(0, 2, 1))
        _write_idx(raw / f"emnist-balanced-{split}-labels-idx1-ubyte", labels)
    ds = load_dataset("emnist", tmp_path)
    check_arrays(ds, 12, 5, (1, 28, 28), 47)
    assert ds.mean == (0.1751,) and ds.std == (0.3332,)
    for split in ("train", "test"):
        images, labels = upright[split]
        np.testing.assert_array_equal(getattr(ds, f"{split}_images")[:, 0], images)
        np.testing.assert_array_equal(getattr(ds, f"{split}_labels"), labels.astype(np.int64))
