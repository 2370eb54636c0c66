"""The dataset reaches each machine once, as files the tasks map, never as a task argument (issue 19)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from ecosim.data.arrays import DataArrays
from ecosim.data.node_cache import NodeCache, array_digest

pytestmark = pytest.mark.ray


def synthetic(n: int = 600, seed: int = 0) -> DataArrays:
    """A dataset the size of a small image set (600 training images of 28×28)."""
    rng = np.random.default_rng(seed)
    return DataArrays(
        train_images=rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8),
        train_labels=rng.integers(0, 10, n).astype(np.int64),
        eval_images=rng.integers(0, 256, (100, 1, 28, 28), dtype=np.uint8),
        eval_labels=rng.integers(0, 10, 100).astype(np.int64),
        mean=(0.13,),
        std=(0.31,),
    )


def same(a: DataArrays, b: DataArrays) -> bool:
    arrays = [f.name for f in dataclasses.fields(DataArrays) if f.name not in ("mean", "std")]
    pairs = [(getattr(a, n), getattr(b, n)) for n in arrays]
    return all((x is None and y is None) or np.array_equal(x, y) for x, y in pairs) and (a.mean, a.std) == (
        b.mean,
        b.std,
    )


def test_a_task_gets_a_small_handle_and_the_first_one_on_a_machine_writes_the_copy_others_map(ray_local, tmp_path):
    from ray import cloudpickle

    from ecosim.engine import tasks
    from ecosim.engine.tasks import DataHandle, node_data

    data = synthetic()
    handle = DataHandle.put(data)
    assert len(cloudpickle.dumps(handle)) < 2_000 < data.train_images.nbytes  # no array travels with a task

    @ray_local.remote(num_cpus=1)
    def read(h: DataHandle, root: str) -> tuple[DataArrays, bool]:
        d = node_data(h, NodeCache(root))
        return d, isinstance(d.train_images, np.memmap)

    root = tmp_path / "node"
    results = ray_local.get([read.remote(handle, str(root)) for _ in range(4)])  # 2 CPUs: concurrent workers
    assert all(same(d, data) and mapped for d, mapped in results)
    files = sorted(p.name for p in root.glob("*.npy"))
    assert files == sorted(f"{d}.npy" for d in handle.digests.values())  # one copy per array, no leftovers
    stamps = {p: p.stat().st_mtime_ns for p in root.glob("*.npy")}

    # a new worker on the same machine maps the copy without fetching: the reference is gone here
    tasks._MAPPED.clear()
    again = node_data(dataclasses.replace(handle, ref=[]), NodeCache(root))
    assert same(again, data) and isinstance(again.train_images, np.memmap)
    assert {p: p.stat().st_mtime_ns for p in root.glob("*.npy")} == stamps


def test_an_unreadable_copy_is_written_again_and_an_unwritable_folder_falls_back_to_memory(ray_local, tmp_path, caplog):
    from ecosim.engine import tasks
    from ecosim.engine.tasks import DataHandle, node_data

    data = synthetic(seed=1)
    handle = DataHandle.put(data)
    root = tmp_path / "node"
    root.mkdir()
    bad = NodeCache(root).path(handle.digests["train_images"])
    bad.write_bytes(b"not an array")  # e.g. a copy cut short by hand
    tasks._MAPPED.clear()
    assert same(node_data(handle, NodeCache(root)), data)
    assert np.array_equal(np.load(bad), data.train_images)

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    tasks._MAPPED.clear()
    with caplog.at_level(logging.WARNING, logger="ecosim.engine.tasks"):
        got = node_data(handle, NodeCache(blocked / "cache"))  # cannot be a folder
    assert same(got, data) and not isinstance(got.train_images, np.memmap)
    assert "this worker keeps it in memory" in caplog.text


def test_digests_name_content_dtype_and_shape():
    a = np.arange(12, dtype=np.uint8)
    assert array_digest(a) == array_digest(a.copy())
    assert (
        len({array_digest(a), array_digest(a.reshape(3, 4)), array_digest(a.astype(np.int64)), array_digest(a + 1)})
        == 4
    )
