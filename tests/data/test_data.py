"""Tests of ecosim.data's dataset readers on real data (MNIST, Fashion-MNIST, CIFAR-10 JPEG tarball) and on
small files written here in the official formats (SVHN .mat, EMNIST IDX, ImageFolder PNGs, a
tiny CIFAR-10-layout tarball). No mocks.

The real data root comes from the environment variable ECOSIM_DATA (CI sets it to the shared
data folder); the tests that need it fail, rather than skip, when it is unset or missing.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import pickle
import struct
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ecosim.data.cifar import CIFAR10_CLASSES
from ecosim.data.load import load_dataset
from ecosim.data.record import CIFAR10_TARBALL, DATASETS, ImageDataset
from ecosim.data.root import ENV_VAR, resolve_data_root
from ecosim.errors import ConfigError, DatasetError
from ecosim.phenotype.normalise import normalise

# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data folder named by $ECOSIM_DATA; fails the test when it is unset or missing."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        pytest.fail(f"{ENV_VAR} is not set: point it at the folder holding MNIST/raw, "
                    f"FashionMNIST/raw and {CIFAR10_TARBALL} (e.g. {ENV_VAR}=/work/shared/data)",
                    pytrace=False)
    root = Path(value)
    if not root.is_dir():
        pytest.fail(f"{ENV_VAR}={value} is not an existing folder", pytrace=False)
    return root


@pytest.fixture(scope="module")
def mnist(data_root: Path) -> ImageDataset:
    return load_dataset("mnist", data_root)


@pytest.fixture(scope="module")
def fashion(data_root: Path) -> ImageDataset:
    return load_dataset("fashion-mnist", data_root)


def _check_arrays(ds: ImageDataset, n_train: int, n_test: int, shape: tuple[int, int, int],
                  classes: int) -> None:
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


# --------------------------------------------------------------------------------------------
# MNIST, Fashion-MNIST (real data)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture_name, name, mean, std", [
    ("mnist", "mnist", (0.1307,), (0.3081,)),
    ("fashion", "fashion-mnist", (0.2860,), (0.3530,)),
])
def test_mnist_family_shapes_and_labels(request, fixture_name, name, mean, std):
    ds: ImageDataset = request.getfixturevalue(fixture_name)
    assert ds.name == name
    _check_arrays(ds, 60000, 10000, (1, 28, 28), 10)
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


@pytest.mark.parametrize("fixture_name", ["mnist", "fashion"])
def test_normalise_gives_zero_mean_unit_std(request, fixture_name):
    ds: ImageDataset = request.getfixturevalue(fixture_name)
    x = normalise(torch.from_numpy(ds.train_images), ds.mean, ds.std)
    assert x.dtype == torch.float32 and x.shape == ds.train_images.shape
    std, mean = torch.std_mean(x)
    assert abs(mean.item()) < 1e-3
    assert abs(std.item() - 1.0) < 1e-3


def test_dataset_pickles_for_the_object_store(mnist):
    restored = pickle.loads(pickle.dumps(mnist, protocol=5))
    assert restored.name == mnist.name and restored.input_shape == mnist.input_shape
    np.testing.assert_array_equal(restored.test_images, mnist.test_images)
    np.testing.assert_array_equal(restored.test_labels, mnist.test_labels)


# --------------------------------------------------------------------------------------------
# normalise and ImageDataset on small inputs
# --------------------------------------------------------------------------------------------


def test_normalise_matches_the_formula_per_channel():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, size=(4, 3, 5, 6), dtype=np.uint8))
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    expected = (images.double() / 255 - torch.tensor(mean).double().view(3, 1, 1)) / torch.tensor(
        std).double().view(3, 1, 1)
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


# --------------------------------------------------------------------------------------------
# names, roots, missing files
# --------------------------------------------------------------------------------------------


def test_unknown_name_is_a_config_error_listing_valid_names(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_dataset("imagenet", tmp_path)
    for name in DATASETS:
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_emnist_split_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="balanced"):
        load_dataset("emnist", tmp_path, emnist_split="nope")


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("download", [False, None])  # None: explicit root, so no download
def test_missing_files_offline_is_a_dataset_error(tmp_path, name, download):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DatasetError) as info:
        load_dataset(name, root, download=download, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert repr(name) in message
    assert str(root) in message
    assert "ECOSIM_DATA" in message and "--data-root" in message and "\n" not in message
    assert list(root.iterdir()) == []  # nothing half-written
    assert isinstance(info.value, FileNotFoundError)


def test_missing_folder_path_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(str(tmp_path / "no-such-folder"))


def test_resolve_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_data_root(None) is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_root(None) == tmp_path / "env"
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(str(tmp_path)) == tmp_path


def test_env_var_is_used_when_no_root_is_given(monkeypatch, data_root):
    monkeypatch.setenv(ENV_VAR, str(data_root))
    ds = load_dataset("fashion-mnist")  # download=None, but a root is configured
    assert ds.train_images.shape == (60000, 1, 28, 28)


# --------------------------------------------------------------------------------------------
# SVHN on synthetic .mat files in the official format
# --------------------------------------------------------------------------------------------


def _write_svhn(folder: Path, n_train: int, n_test: int, seed: int = 0) -> dict[str, tuple]:
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)  # H x W x 3 x N
        y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)           # 1..10, 10 = digit 0
        y[0, 0] = 10
        scipy_io.savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        written[split] = (x, y)
    return written


@pytest.mark.parametrize("subdir", ["", "SVHN"])
def test_svhn_from_mat_files(tmp_path, subdir):
    written = _write_svhn(tmp_path / subdir if subdir else tmp_path, 50, 20)
    ds = load_dataset("svhn", tmp_path)
    _check_arrays(ds, 50, 20, (3, 32, 32), 10)
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


# --------------------------------------------------------------------------------------------
# EMNIST on synthetic IDX files (checks the transposition to upright)
# --------------------------------------------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def test_emnist_images_are_transposed_upright(tmp_path):
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
    _check_arrays(ds, 12, 5, (1, 28, 28), 47)
    assert ds.mean == (0.1751,) and ds.std == (0.3332,)
    for split in ("train", "test"):
        images, labels = upright[split]
        np.testing.assert_array_equal(getattr(ds, f"{split}_images")[:, 0], images)
        np.testing.assert_array_equal(getattr(ds, f"{split}_labels"), labels.astype(np.int64))


# --------------------------------------------------------------------------------------------
# ImageFolder folders (tiny PNGs)
# --------------------------------------------------------------------------------------------


def _write_folder(root: Path, classes: dict[str, int], size=(6, 4), mode="RGB", seed=0,
                  test_per_class: int = 1) -> dict[str, list[np.ndarray]]:
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


def test_image_folder_rgb(tmp_path):
    folder = tmp_path / "shapes"
    written = _write_folder(folder, {"circle": 3, "square": 2, "triangle": 4}, size=(6, 4))
    ds = load_dataset(str(folder))
    assert ds.name == str(folder.resolve())
    _check_arrays(ds, 9, 3, (3, 4, 6), 3)  # (C, H, W) with H=4, W=6
    assert ds.train_labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert ds.test_labels.tolist() == [0, 1, 2]
    expected = np.stack(written["train"]).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(ds.train_images, expected)
    np.testing.assert_allclose(ds.mean, (expected / 255).mean(axis=(0, 2, 3)), atol=1e-12)
    np.testing.assert_allclose(ds.std, (expected / 255).std(axis=(0, 2, 3)), atol=1e-12)
    x = normalise(torch.from_numpy(ds.train_images), ds.mean, ds.std).double()
    assert abs(x.mean().item()) < 1e-6 and abs(x.std(unbiased=False).item() - 1) < 1e-6


def test_image_folder_grayscale_has_one_channel(tmp_path):
    written = _write_folder(tmp_path / "g", {"a": 2, "b": 2}, size=(5, 5), mode="L")
    ds = load_dataset(str(tmp_path / "g"))
    _check_arrays(ds, 4, 2, (1, 5, 5), 2)
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


# --------------------------------------------------------------------------------------------
# CIFAR-10 from a JPEG tarball: a tiny one written here (fast) and the real one (slow)
# --------------------------------------------------------------------------------------------


def _colour(k: int) -> tuple[int, int, int]:
    return (k * 25, 255 - k * 25, 60 + k * 10)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _write_tiny_cifar_tarball(path: Path, train_per_class=2, test_per_class=1,
                              extra: tuple[str, bytes] | None = None, prefix: str = "") -> None:
    with tarfile.open(path, "w:gz") as archive:
        # members in reverse order: the reader must sort them as ImageFolder does
        for split, count in (("test", test_per_class), ("train", train_per_class)):
            for k, cls in reversed(list(enumerate(CIFAR10_CLASSES))):
                for i in reversed(range(count)):
                    buffer = io.BytesIO()
                    Image.new("RGB", (32, 32), _colour(k)).save(buffer, format="JPEG",
                                                                quality=75)
                    _add_bytes(archive, f"{prefix}{split}/{cls}/{i:04d}.jpg", buffer.getvalue())
        _add_bytes(archive, "README.md", b"tiny\n")
        if extra is not None:
            _add_bytes(archive, *extra)


def test_cifar10_tiny_tarball_extracts_once_and_caches_npz(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL)
    ds = load_dataset("cifar10", root, cache_dir=cache)
    _check_arrays(ds, 20, 10, (3, 32, 32), 10)
    assert ds.mean == (0.4914, 0.4822, 0.4465) and ds.std == (0.2470, 0.2435, 0.2616)
    assert ds.train_labels.tolist() == [k for k in range(10) for _ in range(2)]
    assert ds.test_labels.tolist() == list(range(10))
    for i, label in enumerate(ds.train_labels):
        pixel = ds.train_images[i, :, 16, 16].astype(int)
        assert np.abs(pixel - np.array(_colour(int(label)))).max() <= 4  # JPEG, nearly exact

    npz = sorted(cache.glob("*.npz"))
    assert len(npz) == 1 and npz[0].name.startswith("cifar10-jpeg-q75-")
    assert list(cache.iterdir()) == npz  # no extracted JPEG folder, no temporaries

    # the second load reads the .npz only
    again = load_dataset("cifar10", root, cache_dir=cache)
    np.testing.assert_array_equal(again.train_images, ds.train_images)
    np.testing.assert_array_equal(again.test_labels, ds.test_labels)

    # a changed tarball (new size/mtime) gets a new key and is decoded afresh
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL, train_per_class=3)
    os.utime(root / CIFAR10_TARBALL, ns=(1, 1_000_000_000))
    bigger = load_dataset("cifar10", root, cache_dir=cache)
    assert bigger.train_images.shape == (30, 3, 32, 32)
    assert len(sorted(cache.glob("*.npz"))) == 2


def test_cifar10_unsafe_tarball_leaves_nothing_behind(tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL, extra=("../escaped.txt", b"evil"))
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", root, cache_dir=cache)
    assert "cifar10" in str(info.value) and CIFAR10_TARBALL in str(info.value)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (cache / "escaped.txt").exists()
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing written, no npz


def test_cifar10_tarball_mixed_sizes_is_an_error_naming_both_images(tmp_path):
    """The one-size check shared with image folders (issue 20): the first image and the odd one."""
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    odd = io.BytesIO()
    Image.new("RGB", (30, 32), _colour(9)).save(odd, format="JPEG", quality=75)
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL, extra=("test/truck/0009.jpg", odd.getvalue()))
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", root, cache_dir=cache)
    message = str(info.value)
    assert CIFAR10_TARBALL in message and "same size" in message
    assert "train/airplane/0000.jpg is 32x32 but test/truck/0009.jpg is 30x32" in message
    assert not cache.exists() or list(cache.iterdir()) == []  # no npz


def test_cifar10_first_use_logs_progress_and_removes_an_old_extracted_folder(tmp_path, caplog):
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL, prefix="cifar10/")  # one top-level folder
    with caplog.at_level(logging.INFO, logger="ecosim.data.cifar"):
        ds = load_dataset("cifar10", root, cache_dir=cache)
    messages = [r.getMessage() for r in caplog.records if r.name == "ecosim.data.cifar"]
    assert any("first use: decoding" in m and str(cache) in m for m in messages)
    assert any("% of cifar10-jpeg-q75.tar.gz read" in m for m in messages)
    assert any(m.startswith("decoded 30 CIFAR-10 JPEGs") for m in messages)
    assert ds.train_labels.tolist() == [k for k in range(10) for _ in range(2)]

    (npz,) = cache.glob("*.npz")
    old = cache / npz.stem  # what an older ecosim extracted beside the arrays
    (old / "train" / "cat").mkdir(parents=True)
    (old / "train" / "cat" / "0000.jpg").write_bytes(b"jpeg")
    load_dataset("cifar10", root, cache_dir=cache)
    assert list(cache.iterdir()) == [npz]


@pytest.mark.slow
def test_cifar10_real_tarball(data_root, tmp_path):
    """The real 60,000-JPEG tarball: extraction plus decoding takes tens of seconds."""
    if not (data_root / CIFAR10_TARBALL).is_file():
        pytest.fail(f"{data_root / CIFAR10_TARBALL} is missing from {ENV_VAR}={data_root}")
    start = time.perf_counter()
    ds = load_dataset("cifar10", data_root, cache_dir=tmp_path)
    first = time.perf_counter() - start
    _check_arrays(ds, 50000, 10000, (3, 32, 32), 10)
    assert np.bincount(ds.train_labels, minlength=10).tolist() == [5000] * 10
    assert np.bincount(ds.test_labels, minlength=10).tolist() == [1000] * 10
    # JPEG q75 keeps the channel means close to the official ones
    means = ds.train_images.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(means, ds.mean, atol=2e-3)

    start = time.perf_counter()
    cached = load_dataset("cifar10", data_root, cache_dir=tmp_path)
    second = time.perf_counter() - start
    np.testing.assert_array_equal(cached.test_images, ds.test_images)
    print(f"\nCIFAR-10 tarball: first load (extract + decode) {first:.1f} s, "
          f"cached load {second:.2f} s")
    assert second < first


def test_data_modules_do_not_import_torch():
    """Commands that only read a run (``resume`` with nothing to do, ``report``) must not pay for
    importing torch (about 1 s) through any module of ecosim.data; torchvision is imported where a
    dataset is read."""
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys, ecosim.data\n"
            "for m in pkgutil.iter_modules(ecosim.data.__path__):\n"
            "    importlib.import_module('ecosim.data.' + m.name)\n"
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
