"""SVHN (ecosim.data.svhn) on small .mat files written here in the official format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecosim.data.load import load_dataset


def _write_svhn(folder: Path, n_train: int, n_test: int, seed: int = 0) -> dict[str, tuple]:
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)  # H x W x 3 x N
        y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)  # 1..10, 10 = digit 0
        y[0, 0] = 10
        scipy_io.savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        written[split] = (x, y)
    return written


@pytest.mark.parametrize("subdir", ["", "SVHN"])
def test_svhn_from_mat_files(check_arrays, tmp_path, subdir):
    written = _write_svhn(tmp_path / subdir if subdir else tmp_path, 50, 20)
    ds = load_dataset("svhn", tmp_path)
    check_arrays(ds, 50, 20, (3, 32, 32), 10)
    assert ds.mean == (0.4377, 0.4438, 0.4728) and ds.std == (0.1980, 0.2010, 0.1970)
    for split in ("train", "test"):
        x, y = written[split]
        labels = getattr(ds, f"{split}_labels")
        expected = y[:, 0].astype(np.int64) % 10
        np.testing.assert_array_equal(labels, expected)
        assert labels[0] == 0  # label 10 means digit 0
        images = getattr(ds, f"{split}_images")
        for i in (0, 7, len(labels) - 1):
            np.testing.assert_array_equal(images[i], x[:, :, :, i].transpose(2, 0, 1))
