"""CIFAR-10 from a JPEG tarball (ecosim.data.cifar): a tiny one written here (fast) and the real one (slow)."""

from __future__ import annotations

import io
import logging
import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecosim.data.cifar import CIFAR10_CLASSES
from ecosim.data.load import load_dataset
from ecosim.data.record import CIFAR10_TARBALL
from ecosim.data.root import ENV_VAR
from ecosim.errors import DatasetError


def _colour(k: int) -> tuple[int, int, int]:
    return (k * 25, 255 - k * 25, 60 + k * 10)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _write_tiny_cifar_tarball(
    path: Path, train_per_class=2, test_per_class=1, extra: tuple[str, bytes] | None = None, prefix: str = ""
) -> None:
    with tarfile.open(path, "w:gz") as archive:
        # members in reverse order: the reader must sort them as ImageFolder does
        for split, count in (("test", test_per_class), ("train", train_per_class)):
            for k, cls in reversed(list(enumerate(CIFAR10_CLASSES))):
                for i in reversed(range(count)):
                    buffer = io.BytesIO()
                    Image.new("RGB", (32, 32), _colour(k)).save(buffer, format="JPEG", quality=75)
                    _add_bytes(archive, f"{prefix}{split}/{cls}/{i:04d}.jpg", buffer.getvalue())
        _add_bytes(archive, "README.md", b"tiny\n")
        if extra is not None:
            _add_bytes(archive, *extra)


def test_cifar10_tiny_tarball_extracts_once_and_caches_npz(check_arrays, tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL)
    ds = load_dataset("cifar10", root, cache_dir=cache)
    check_arrays(ds, 20, 10, (3, 32, 32), 10)
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

    # the same tarball copied again (a new mtime) keeps its key: no second 177 MB file (session 38)
    os.utime(root / CIFAR10_TARBALL, ns=(2, 2_000_000_000))
    load_dataset("cifar10", root, cache_dir=cache)
    assert sorted(cache.glob("*.npz")) == npz

    # a changed tarball (new content) gets a new key and is decoded afresh
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL, train_per_class=3)
    os.utime(root / CIFAR10_TARBALL, ns=(1, 1_000_000_000))
    bigger = load_dataset("cifar10", root, cache_dir=cache)
    assert bigger.train_images.shape == (30, 3, 32, 32)
    assert len(sorted(cache.glob("*.npz"))) == 2


def test_cifar10_cache_of_an_older_ecosim_is_taken_over_and_its_copies_removed(tmp_path):
    """Before 0.9.9 the cache was keyed by the tarball's mtime: each new copy of the data folder
    decoded again and left another 177 MB file (a fresh user's find, session 38)."""
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    tarball = root / CIFAR10_TARBALL
    _write_tiny_cifar_tarball(tarball)
    first = load_dataset("cifar10", root, cache_dir=cache)
    (new,) = cache.glob("*.npz")
    size, mtime = tarball.stat().st_size, tarball.stat().st_mtime_ns
    old = cache / f"cifar10-jpeg-q75-{size}-{mtime}.npz"  # what 0.9.8 wrote for this tarball
    new.replace(old)
    copy = cache / f"cifar10-jpeg-q75-{size}-123.npz"  # 0.9.8's file of an earlier copy
    copy.write_bytes(old.read_bytes())
    other = cache / "cifar10-jpeg-q75-99-123.npz"  # another tarball's: kept
    other.write_bytes(b"")
    again = load_dataset("cifar10", root, cache_dir=cache)
    np.testing.assert_array_equal(again.train_images, first.train_images)
    assert sorted(cache.glob("*.npz")) == sorted([new, other])  # renamed, not decoded; the copy removed


def test_cifar10_cache_with_an_all_digit_key_is_kept(tmp_path, monkeypatch):
    """The review's find: a content key of digits only (1 tarball in ~1,850) looked like an old
    mtime key, and each cache hit deleted its own file."""
    from ecosim.data import cifar

    monkeypatch.setattr(cifar, "_content_key", lambda path: "7367626047827378")
    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    _write_tiny_cifar_tarball(root / CIFAR10_TARBALL)
    for _ in range(2):
        load_dataset("cifar10", root, cache_dir=cache)
        assert [p.name for p in cache.glob("*.npz")] == [
            f"cifar10-jpeg-q75-{(root / CIFAR10_TARBALL).stat().st_size}-sha256-7367626047827378.npz"
        ]


def test_cifar10_cache_of_an_older_ecosim_is_read_where_it_cannot_be_renamed(tmp_path, monkeypatch, caplog):
    from pathlib import Path

    root, cache = tmp_path / "data", tmp_path / "cache"
    root.mkdir()
    tarball = root / CIFAR10_TARBALL
    _write_tiny_cifar_tarball(tarball)
    load_dataset("cifar10", root, cache_dir=cache)
    (new,) = cache.glob("*.npz")
    old = cache / f"cifar10-jpeg-q75-{tarball.stat().st_size}-{tarball.stat().st_mtime_ns}.npz"
    new.replace(old)

    def refuse(self, target):  # a read-only cache folder (root ignores chmod)
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "replace", refuse)
    with caplog.at_level(logging.INFO, logger="ecosim.data.cifar"):
        load_dataset("cifar10", root, cache_dir=cache)
    assert not any("first use" in r.getMessage() for r in caplog.records)  # read, not decoded again
    assert [p.name for p in cache.glob("*.npz")] == [old.name]


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
    stat = (root / CIFAR10_TARBALL).stat()
    old = cache / f"cifar10-jpeg-q75-{stat.st_size}-{stat.st_mtime_ns}"  # what an older ecosim extracted
    (old / "train" / "cat").mkdir(parents=True)
    (old / "train" / "cat" / "0000.jpg").write_bytes(b"jpeg")
    load_dataset("cifar10", root, cache_dir=cache)
    assert list(cache.iterdir()) == [npz]


@pytest.mark.slow
def test_cifar10_real_tarball(check_arrays, data_root, tmp_path):
    """The real 60,000-JPEG tarball: extraction plus decoding takes tens of seconds."""
    if not (data_root / CIFAR10_TARBALL).is_file():
        pytest.fail(f"{data_root / CIFAR10_TARBALL} is missing from {ENV_VAR}={data_root}")
    start = time.perf_counter()
    ds = load_dataset("cifar10", data_root, cache_dir=tmp_path)
    first = time.perf_counter() - start
    check_arrays(ds, 50000, 10000, (3, 32, 32), 10)
    assert np.bincount(ds.train_labels, minlength=10).tolist() == [5000] * 10
    assert np.bincount(ds.test_labels, minlength=10).tolist() == [1000] * 10
    # JPEG q75 keeps the channel means close to the official ones
    means = ds.train_images.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(means, ds.mean, atol=2e-3)

    start = time.perf_counter()
    cached = load_dataset("cifar10", data_root, cache_dir=tmp_path)
    second = time.perf_counter() - start
    np.testing.assert_array_equal(cached.test_images, ds.test_images)
    print(f"\nCIFAR-10 tarball: first load (extract + decode) {first:.1f} s, cached load {second:.2f} s")
    assert second < first
