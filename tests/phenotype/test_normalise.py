"""normalise (ecosim.phenotype.normalise): the formula per channel, bad input, and zero mean and
unit std on real MNIST and Fashion-MNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ecosim.data.load import load_dataset
from ecosim.data.record import ImageDataset
from ecosim.errors import ConfigError
from ecosim.phenotype.normalise import normalise


def test_normalise_matches_the_formula_per_channel():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, size=(4, 3, 5, 6), dtype=np.uint8))
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    expected = (images.double() / 255 - torch.tensor(mean).double().view(3, 1, 1)) / torch.tensor(std).double().view(
        3, 1, 1
    )
    got = normalise(images, mean, std)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-5)
    # a NumPy array works too
    torch.testing.assert_close(normalise(images.numpy(), mean, std), got)


def test_normalise_rejects_bad_input():
    images = torch.zeros((2, 3, 4, 4), dtype=torch.uint8)
    with pytest.raises(ConfigError, match="uint8"):
        normalise(images.float(), (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ConfigError, match="3 mean and std"):
        normalise(images, (0.5,), (0.5,))
    with pytest.raises(ConfigError, match="positive"):
        normalise(images, (0.5,) * 3, (0.5, 0.0, 0.5))


@pytest.fixture(scope="module")
def mnist(data_root: Path) -> ImageDataset:
    return load_dataset("mnist", data_root)


@pytest.fixture(scope="module")
def fashion(data_root: Path) -> ImageDataset:
    return load_dataset("fashion-mnist", data_root)


@pytest.mark.parametrize("fixture_name", ["mnist", "fashion"])
def test_normalise_gives_zero_mean_unit_std(request, fixture_name):
    ds: ImageDataset = request.getfixturevalue(fixture_name)
    x = normalise(torch.from_numpy(ds.train_images), ds.mean, ds.std)
    assert x.dtype == torch.float32 and x.shape == ds.train_images.shape
    std, mean = torch.std_mean(x)
    assert abs(mean.item()) < 1e-3
    assert abs(std.item() - 1.0) < 1e-3
