"""Surviving lost actors and nodes; multi-node runs on a real Ray cluster on this machine (issue 8).

The multi-node tests start ``ray start`` processes on 127.0.0.1 (the head, no CPUs: training
tasks never run there) and 127.0.0.2, 127.0.0.3 (one CPU each, started without ``ECOSIM_DATA``)
through :class:`ecosim.engine.local_cluster.LocalCluster`, and drive them with ``ecosim run
--address`` in a subprocess, as a user would. Reference logs come from one local Ray node.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ecosim.config import Config
from ecosim.store.logs import read_events, read_generations, read_networks

TIMING = ["wall_time_s", "task_time_s", "train_phase_s", "evolve_phase_s", "train_time_s", "eval_time_s"]
SIZES = {"population": 4, "species": 2, "max_species": 2, "max_population": 6, "offspring": 2}


def tiny(out: Path, data_root: Path, **kw) -> Config:
    """A run small enough for 2 shared cores: 4 networks in 2 species (no spare actor), 500 test images."""
    base = {
        "run.out": str(out),
        "run.seed": 11,
        "run.generations": 3,
        "data.dataset": "mnist",
        "data.data_root": str(data_root),
        "data.test_subset": 500,
        **{f"ecosystem.{k}": v for k, v in SIZES.items()},
        "training.train_fraction": 0.01,
        "resources.num_cpus": 2,
    }
    base.update(kw)
    return Config().with_overrides(base)


def _strip(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in TIMING if c in df.columns])


def assert_same_logs(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(_strip(read_generations(a)), _strip(read_generations(b)))
    pd.testing.assert_frame_equal(_strip(read_networks(a)), _strip(read_networks(b)))


def assert_no_duplicate_or_missing_rows(run_dir: Path, generations: int) -> None:
    gens, nets = read_generations(run_dir), read_networks(run_dir)
    assert list(gens["generation"]) == list(range(generations))
    assert not nets.duplicated(["generation", "network_id"]).any()
    trained = nets[nets["fitness"].notna()].groupby("generation").size()
    assert list(gens["networks_evaluated"]) == [int(trained.get(g, 0)) for g in range(generations)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root, ray_local) -> Path:
    """The uninterrupted synchronous run on one local Ray node."""
    from ecosim.api import run

    out = tmp_path_factory.mktemp("reference") / "run"
    run(tiny(out, data_root))
    return out


# ---- async: the retire-while-training race (unit level, one local Ray) -----------------------------
@pytest.mark.ray
def test_a_species_retired_while_its_training_is_in_flight_ends_its_loop_without_error(tmp_path, data_root, ray_local):
    from ecosim.data import prepare_data
    from ecosim.engine.coordinator import Ecosystem

    cfg = tiny(tmp_path / "race", data_root, **{"run.mode": "async", "run.generations": 2})
    data, shape, classes = prepare_data(cfg)

    async def scenario() -> None:
        eco = Ecosystem(cfg, tmp_path / "race", data, shape, classes)
        try:
            await eco.initialise()
            training = asyncio.Event()
            real_train = eco._train

            async def spy(*args, **kw):
                training.set()
                return await real_train(*args, **kw)

            eco._train = spy
            loop = asyncio.ensure_future(eco._species_loop(0, 2))
            await asyncio.wait_for(training.wait(), 60)
            await asyncio.sleep(0.5)  # the train call has reached the actor
            async with eco.lock:  # another species' step culls species 0's last network
                await eco._retire(0)
            await asyncio.wait_for(loop, 120)  # before the fix: ActorDiedError from the killed actor
            assert 0 not in eco.actors and 0 not in eco.policy.species
        finally:
            await eco.shutdown()

    asyncio.run(scenario())


# ---- lost actors on one local Ray: the redo paths, exactly -------------------------------------------
async def kill_and_wait(actor) -> None:
    """Kill an actor and return once calls to it fail (so the next call surely meets a dead actor)."""
    import ray

    ray.kill(actor)
    for _ in range(400):
        try:
            await actor.size.remote()
        except ray.exceptions.RayActorError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the killed actor still answers")


@pytest.mark.ray
def test_an_actor_lost_after_training_rolls_the_step_back_and_sync_logs_equal_an_uninterrupted_run(
    reference, tmp_path, data_root, ray_local, monkeypatch
):
    from ecosim.api import run
    from ecosim.engine.coordinator import Ecosystem

    real_commit, calls = Ecosystem._commit, []

    async def commit_after_losing_an_actor(self, sids):
        calls.append(list(sids))
        if len(calls) == 3:  # generation 1's commit (the first is the initial species')
            await kill_and_wait(self.actors[sids[-1]])
        return await real_commit(self, sids)

    monkeypatch.setattr(Ecosystem, "_commit", commit_after_losing_an_actor)
    out = tmp_path / "lost"
    run(tiny(out, data_root))
    assert_same_logs(reference, out)
    events = read_events(out)
    assert list(events["event"]) == ["step_redone"]
    ev = events.iloc[0]
    assert ev["generation"] == 1 and ev["species_id"] == calls[2][-1] and ev["networks_retrained"] > 0
    assert "ActorDiedError" in ev["cause"] and ev["recovery_s"] > 0 and "trained again" in ev["redone"]


@pytest.mark.ray
def test_async_actor_lost_in_another_species_step_is_recreated_without_duplicate_or_missing_rows(
    tmp_path, data_root, ray_local, monkeypatch
):
    from ecosim.api import run
    from ecosim.engine.coordinator import Ecosystem

    real_cull, calls = Ecosystem._cull, []

    async def cull_after_losing_another_actor(self, generation, protect):
        calls.append(generation)
        others = sorted(set(self.actors) - set(protect or ()))
        if len(calls) == 2 and others:  # the second step: kill a species that is not stepping
            await kill_and_wait(self.actors[others[0]])
        return await real_cull(self, generation, protect)

    monkeypatch.setattr(Ecosystem, "_cull", cull_after_losing_another_actor)
    out = tmp_path / "async"
    run(tiny(out, data_root, **{"run.mode": "async"}))
    assert_no_duplicate_or_missing_rows(out, 3)
    assert "step_redone" in set(read_events(out)["event"])


# ---- a real multi-node cluster on this machine ---------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    """Head (no CPUs) + two 1-CPU nodes without ECOSIM_DATA, on 127.0.0.1-3; removed after the module."""
    from ecosim.engine.local_cluster import LocalCluster

    c = LocalCluster(head_cpus=0)
    try:
        c.add_nodes(2, num_cpus=1, env={"ECOSIM_DATA": None, "ECOSIM_CACHE": str(c.root / "no-cache")})
        yield c
    finally:
        c.shutdown()


def _workers(cluster) -> list:
    return [n for n in cluster.nodes if not n.head and not n.removed]


def restore_workers(cluster, count: int = 2) -> None:
    """Put the cluster back to ``count`` worker nodes after a test removed some."""
    missing = count - len(_workers(cluster))
    if missing > 0:
        cluster.add_nodes(missing, num_cpus=1, env={"ECOSIM_DATA": None, "ECOSIM_CACHE": str(cluster.root / "no-cache")})


def cli(cluster, *args: str) -> subprocess.Popen:
    """``ecosim ARGS --address HEAD`` in a new session (so a test can SIGKILL the whole driver)."""
    cmd = [sys.executable, "-m", "ecosim.cli", *args, "--address", cluster.address]
    return subprocess.Popen(cmd, env=cluster.driver_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def run_args(out: Path, data_root: Path, **kw: str) -> list[str]:
    opts = {"out": str(out), "seed": "11", "generations": "3", "dataset": "mnist", "data-root": str(data_root),
            "test-subset": "500", "train-fraction": "0.01", **{k.replace("_", "-"): str(v) for k, v in SIZES.items()}}
    opts.update(kw)
    return ["run", *(x for k, v in opts.items() for x in (f"--{k}", v))]


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def when(condition, timeout: float = 180.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def mid_generation_1(cluster, out: Path) -> None:
    """Wait until generation 0 is checkpointed and a training task of generation 1 runs."""
    when(lambda: (out / "checkpoints" / "gen-000001").exists() or (out / "checkpoints" / "gen-000000").exists(),
         what="generation 0's checkpoint")
    when(lambda: bool(cluster.pids("train_network_task")), what="a training task of generation 1")


@pytest.mark.cluster
def test_species_actor_killed_by_pid_on_three_nodes_without_the_data_gives_the_one_node_logs(
    cluster, reference, tmp_path, data_root
):
    # the data folder exists only while the driver loads it: the nodes get the arrays from the
    # object store (the head has no CPUs, the worker nodes were started without ECOSIM_DATA)
    link = tmp_path / "data"
    link.symlink_to(data_root, target_is_directory=True)
    out = tmp_path / "killed"
    proc = cli(cluster, *run_args(out, link))
    when(lambda: (out / "config.toml").exists(), what="the run's config.toml (data loaded)")
    link.unlink()
    mid_generation_1(cluster, out)
    actors = cluster.pids("ray::SpeciesActor.train") or cluster.pids("ray::SpeciesActor")
    victim = actors[0]
    os.kill(victim, signal.SIGKILL)
    finish(proc)
    assert_same_logs(reference, out)
    events = read_events(out)
    assert len(events) == 1 and events["event"].iloc[0] in ("species_recovered", "step_redone")
    ev = events.iloc[0]
    assert ev["pid"] == victim and ev["networks_retrained"] > 0 and ev["recovery_s"] > 0
    assert "Actor" in ev["cause"]


@pytest.mark.cluster
@pytest.mark.slow
def test_sync_logs_from_one_node_and_from_three_nodes_are_identical(cluster, reference, tmp_path, data_root):
    out = tmp_path / "three"
    finish(cli(cluster, *run_args(out, data_root)))
    assert_same_logs(reference, out)
    assert read_events(out).empty


@pytest.mark.cluster
@pytest.mark.slow
def test_worker_node_removed_mid_generation_sync_logs_equal_the_uninterrupted_run(cluster, reference, tmp_path, data_root):
    out = tmp_path / "node-lost"
    proc = cli(cluster, *run_args(out, data_root))
    try:
        mid_generation_1(cluster, out)
        hosts = [cluster.node_of(p) for p in cluster.pids("ray::SpeciesActor")]
        victim = next((n for n in hosts if n is not None and not n.head), _workers(cluster)[0])
        cluster.remove_node(victim)
        finish(proc)
    finally:
        restore_workers(cluster)
    assert_same_logs(reference, out)


@pytest.mark.cluster
@pytest.mark.slow
def test_driver_sigkill_then_resume_with_address_completes_the_run(cluster, reference, tmp_path, data_root):
    out = tmp_path / "driver-killed"
    proc = cli(cluster, *run_args(out, data_root))
    mid_generation_1(cluster, out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = cli(cluster, "resume", str(out))
    finish(resumed)
    assert_same_logs(reference, out)
    assert "resumed" in set(read_events(out)["event"])


@pytest.mark.cluster
@pytest.mark.slow
def test_async_on_three_nodes_survives_a_node_removed_and_a_driver_kill(cluster, tmp_path, data_root):
    out = tmp_path / "async"
    proc = cli(cluster, *run_args(out, data_root, mode="async", generations="4"))
    try:
        mid_generation_1(cluster, out)
        cluster.remove_node(_workers(cluster)[0])
        when(lambda: (out / "checkpoints" / "gen-000002").exists(), what="generation 2's checkpoint")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        restore_workers(cluster)
        finish(cli(cluster, "resume", str(out)))
    finally:
        restore_workers(cluster)
    assert_no_duplicate_or_missing_rows(out, 4)


@pytest.mark.cluster
@pytest.mark.slow
def test_no_node_left_for_training_stops_with_a_resumable_state(cluster, reference, tmp_path, data_root):
    out = tmp_path / "no-nodes"
    proc = cli(cluster, *run_args(out, data_root), "--resource-timeout", "3")
    try:
        mid_generation_1(cluster, out)
        for node in _workers(cluster):
            cluster.remove_node(node)
        text, _ = proc.communicate(timeout=180)
        assert proc.returncode == 2, text[-3000:]
        assert "no node of the Ray cluster can run a training task" in text
        assert f"ecosim resume {out} --address {cluster.address}" in text
        assert "resources_exhausted" in set(read_events(out)["event"])
        restore_workers(cluster)
        finish(cli(cluster, "resume", str(out)))
    finally:
        restore_workers(cluster)
    assert_same_logs(reference, out)
