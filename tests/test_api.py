"""The Python entry points: logging of progress lines, absolute paths, clamped requests (issue: any budget, any
terminal)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from ecosim import api
from ecosim.api import resolve_paths
from ecosim.config import Config, DataConfig, EcosystemConfig, RunConfig
from ecosim.data.arrays import prepare_data
from ecosim.phenotype.records import TrainingParams
from ecosim.preflight import check_training_subset


def test_without_a_callback_lines_go_to_logging(caplog):
    with caplog.at_level(logging.INFO, logger="ecosim.api"):
        api._emitter(None)("run directory: x")
    assert [r.getMessage() for r in caplog.records] == ["run directory: x"]


def test_paths_are_stored_absolute_and_ecosim_data_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECOSIM_DATA", "data")
    cfg = resolve_paths(Config(run=RunConfig(out="runs/a")))
    assert cfg.run.out == str(tmp_path / "runs" / "a") and cfg.data.data_root == str(tmp_path / "data")
    cfg = resolve_paths(Config(data=DataConfig(data_root="../d")))  # the config's value wins over the environment
    assert cfg.data.data_root == str(tmp_path.parent / "d") and Path(cfg.run.out).is_absolute()
    monkeypatch.delenv("ECOSIM_DATA")
    assert resolve_paths(Config()).data.data_root == ""  # the dataset cache
    assert resolve_paths(cfg) == cfg


def test_resume_data_root_precedence(tmp_path, monkeypatch):
    stored = Config(data=DataConfig(data_root=str(tmp_path / "moved-away")))
    monkeypatch.setenv("ECOSIM_DATA", str(tmp_path))
    assert api._resume_paths(stored, tmp_path / "run", {}).data.data_root == str(tmp_path)  # stored folder gone
    there = Config(data=DataConfig(data_root=str(tmp_path)))
    monkeypatch.setenv("ECOSIM_DATA", "/elsewhere")
    assert api._resume_paths(there, tmp_path / "run", {}).data.data_root == str(tmp_path)  # stored folder exists
    over = there.with_overrides({"data.data_root": "other"})
    assert api._resume_paths(over, tmp_path, {"data.data_root": "other"}).data.data_root == os.path.abspath("other")


def test_more_cpus_than_the_machine_warn_and_clamp(monkeypatch, caplog):
    monkeypatch.setattr(api, "_available_cpus", lambda: 2)
    cfg = Config().with_overrides({"resources.num_cpus": 64})
    with caplog.at_level(logging.WARNING):
        assert api._clamp_resources(cfg).resources.num_cpus == 2
    assert "resources.num_cpus' = 64" in caplog.text
    assert api._clamp_resources(cfg.with_overrides({"resources.num_cpus": 2})).resources.num_cpus == 2
    joined = cfg.with_overrides({"run.address": "10.0.0.1:6379"})
    assert api._clamp_resources(joined) == joined  # a cluster's CPUs are its own


def test_test_subset_above_the_test_set_warns_and_uses_all(data_root, caplog):
    cfg = Config().with_overrides({"data.data_root": str(data_root), "data.test_subset": 100_000})
    with caplog.at_level(logging.WARNING):
        data, _, _ = prepare_data(cfg)
    assert len(data.eval_labels) == 10_000 and "data.test_subset' = 100000" in caplog.text


def _one_generation_of_two(out: Path, data_root) -> Config:
    """One generation of 2 networks, 1% of the training set, 300 test images: a run of seconds."""
    return Config(
        run=RunConfig(generations=1, out=str(out)),
        data=DataConfig(data_root=str(data_root), test_subset=300),
        ecosystem=EcosystemConfig(population=2),
        training=TrainingParams(train_fraction=0.01),
    )


@pytest.mark.ray
def test_python_api_runs_a_config_with_only_the_population_set(tmp_path, data_root, ray_local):
    cfg = _one_generation_of_two(tmp_path / "api", data_root)
    lines: list[str] = []
    result = api.run(cfg, progress=lines.append)
    assert lines[0] == f"run directory: {tmp_path / 'api'}"
    assert lines[1].startswith("generation 0 (1/1): ") and lines[-1].startswith("champion: network ")
    assert result.run_dir == tmp_path / "api" and "max_population = 5" in (tmp_path / "api" / "config.toml").read_text()


@pytest.mark.parametrize(("asked", "stored"), [(20_000, 0), (8_000, 8_000), (500, 500)])
def test_the_stored_test_subset_gives_a_resumed_run_the_same_fitness_and_test_images(data_root, asked, stored):
    from ecosim.api import _recorded_test_subset

    cfg = Config().with_overrides(
        {"data.data_root": str(data_root), "data.test_subset": asked, "data.validation_fraction": 0.1}
    )
    first, _, _ = prepare_data(cfg)  # 6,000 validation images, 10,000 test images
    recorded = _recorded_test_subset(cfg, first)
    assert recorded.data.test_subset == stored
    again, _, _ = prepare_data(recorded)  # what resume prepares from config.toml
    assert np.array_equal(first.eval_labels, again.eval_labels) and np.array_equal(first.eval_images, again.eval_images)
    assert np.array_equal(first.test_labels, again.test_labels) and np.array_equal(first.test_images, again.test_images)


@pytest.mark.parametrize(
    ("fraction", "left"), [(0.99999, "1 training and 59,999 validation"), (1e-9, "59,999 training and 1 validation")]
)
def test_a_validation_split_that_leaves_fewer_images_than_classes_is_one_line_naming_the_range(
    data_root, fraction, left
):
    """``--validation-fraction 0.99999`` trained every network on one image, silently (helper 36)."""
    from ecosim.errors import ConfigError

    cfg = Config().with_overrides({"data.data_root": str(data_root), "data.validation_fraction": fraction})
    with pytest.raises(
        ConfigError, match=rf"'data.validation_fraction' = {fraction:g} is invalid: it leaves {left}"
    ) as e:
        prepare_data(cfg)
    assert "[0.000166667, 0.999833]" in str(e.value) and "\n" not in str(e.value)
    edge, _, _ = prepare_data(cfg.with_overrides({"data.validation_fraction": 0.000167}))  # the range's ends hold
    assert len(edge.eval_labels) == 10 and len(edge.train_labels) == 59_990
    top = cfg.with_overrides({"data.validation_fraction": 0.999833})
    data, _, classes = prepare_data(top)
    assert len(data.train_labels) == 10  # the split holds; training on 0.1 of it (1 image) does not (helper 37)
    with pytest.raises(ConfigError, match=r"'training.train_fraction' = 0.1 is invalid: it trains each network on 1 "):
        check_training_subset(top, data, classes)
    check_training_subset(top.with_overrides({"training.train_fraction": 1.0}), data, classes)


@pytest.mark.ray
def test_resume_refuses_a_config_toml_edited_by_hand_and_names_the_key(tmp_path, data_root, ray_local):
    from ecosim.errors import ConfigError

    api.run(_one_generation_of_two(tmp_path / "run", data_root), progress=lambda line: None)
    path = tmp_path / "run" / "config.toml"
    original = path.read_text()
    path.write_text(original.replace("max_macs = 0.0", "max_macs = 500000.0"))  # a cap added before resume
    assert path.read_text() != original
    with pytest.raises(
        ConfigError, match=r"edited after generation 0 .*mutation\.max_macs = 500000\.0 \(the run computed with 0\.0\)"
    ):
        api.resume(tmp_path / "run", {"run.generations": 2}, progress=lambda line: None)
    # a resumable key edited in the file is no edit of what the run computes
    path.write_text(original.replace("generations = 1", "generations = 2"))
    lines: list[str] = []
    api.resume(tmp_path / "run", progress=lines.append)
    assert any(line.startswith("generation 1 (2/2)") for line in lines)


@pytest.mark.ray
def test_resume_holds_the_run_lock_from_before_the_data_is_read(tmp_path, data_root, ray_local):
    """A second resume started while the first read the data and started Ray got past the lock and
    failed only after its own data and Ray (the review's find, session 39): the lock is now taken
    once, before anything, and held to the end. When the first line arrives (data read, Ray up),
    another taker of the lock is refused."""
    from ecosim.errors import CheckpointError
    from ecosim.store.lock import run_lock

    api.run(_one_generation_of_two(tmp_path / "run", data_root), progress=lambda line: None)
    refused: list[str] = []

    def line(text: str) -> None:
        if text.startswith("run directory:"):
            with pytest.raises(CheckpointError, match="is in use by ecosim pid") as info, run_lock(tmp_path / "run"):
                pass
            refused.append(str(info.value))

    api.resume(tmp_path / "run", {"run.generations": 2}, progress=line)
    assert len(refused) == 1


def test_the_end_of_a_run_cancels_leftover_tasks_until_they_end_and_names_one_that_does_not(caplog):
    """``asyncio.run`` cancels leftover tasks once and waits for them without a bound (an
    interrupted async resume hung there, session 30)."""
    import asyncio
    import contextlib

    async def swallows_one_cancel() -> str:  # as Python 3.11's wait_for can
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        await asyncio.sleep(60)
        return "not reached"

    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    async def scenario() -> tuple[bool, bool]:
        one, two = asyncio.ensure_future(swallows_one_cancel()), asyncio.ensure_future(stubborn())
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.WARNING, logger="ecosim.api"):
            await api._end_leftover_tasks(1.5)
        named = two.done()
        release.set()
        await two
        return one.cancelled(), named

    ended, stubborn_done = asyncio.run(scenario())
    assert ended and not stubborn_done  # the task that swallowed one cancel ended at the next
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "ecosim.api"]
    assert "did not end when cancelled at the end of the run: " in warning and warning.endswith(".stubborn")
