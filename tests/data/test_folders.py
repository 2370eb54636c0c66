"""Image-folder datasets (ecosim.data.folders) on tiny PNGs written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ecosim.data.load import load_dataset
from ecosim.errors import DatasetError
from ecosim.phenotype.normalise import normalise


def _write_folder(
    root: Path, classes: dict[str, int], size=(6, 4), mode="RGB", seed=0, test_per_class: int = 1
) -> dict[str, list[np.ndarray]]:
    """Write root/{train,test}/<class>/NN.png; returns the pixel arrays in sorted file order."""
    rng = np.random.default_rng(seed)
    w, h = size
    written: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for split in ("train", "test"):
        for cls in sorted(classes):
            folder = root / split / cls
            folder.mkdir(parents=True)
            count = classes[cls] if split == "train" else test_per_class
            for i in range(count):
                shape = (h, w, 3) if mode == "RGB" else (h, w)
                pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
                Image.fromarray(pixels, mode=mode).save(folder / f"{i:02d}.png")
                written[split].append(pixels)
    return written


def test_image_folder_rgb(check_arrays, tmp_path):
    folder = tmp_path / "shapes"
    written = _write_folder(folder, {"circle": 3, "square": 2, "triangle": 4}, size=(6, 4))
    ds = load_dataset(str(folder))
    assert ds.name == str(folder.resolve())
    check_arrays(ds, 9, 3, (3, 4, 6), 3)  # (C, H, W) with H=4, W=6
    assert ds.train_labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert ds.test_labels.tolist() == [0, 1, 2]
    expected = np.stack(written["train"]).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(ds.train_images, expected)
    np.testing.assert_allclose(ds.mean, (expected / 255).mean(axis=(0, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(ds.std, (expected / 255).std(axis=(0, 2, 3)), atol=1e-12)
    x = normalise(torch.from_numpy(ds.train_images), ds.mean, ds.std).double()
    assert abs(x.mean().item()) < 1e-6 and abs(x.std(unbiased=False).item() - 1) < 1e-6


def test_image_folder_grayscale_has_one_channel(check_arrays, tmp_path):
    written = _write_folder(tmp_path / "g", {"a": 2, "b": 2}, size=(5, 5), mode="L")
    ds = load_dataset(str(tmp_path / "g"))
    check_arrays(ds, 4, 2, (1, 5, 5), 2)
    np.testing.assert_array_equal(ds.test_images[:, 0], np.stack(written["test"]))


def test_image_folder_found_under_the_data_root(tmp_path):
    _write_folder(tmp_path / "mine", {"a": 1, "b": 1})
    ds = load_dataset("mine", data_root=tmp_path)
    assert ds.name == str((tmp_path / "mine").resolve())


def test_image_folder_mixed_sizes_is_an_error_naming_the_folder(tmp_path):
    folder = tmp_path / "mixed"
    _write_folder(folder, {"a": 2, "b": 2}, size=(4, 4))
    Image.new("RGB", (5, 4)).save(folder / "train" / "b" / "99.png")
    with pytest.raises(DatasetError) as info:
        load_dataset(str(folder))
    assert str(folder) in str(info.value) and "same size" in str(info.value)
    assert "99.png is 5x4" in str(info.value)


def test_image_folder_without_test_split_is_an_error(tmp_path):
    folder = tmp_path / "half"
    (folder / "train" / "a").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(folder / "train" / "a" / "0.png")
    with pytest.raises(DatasetError, match="test/"):
        load_dataset(str(folder))
