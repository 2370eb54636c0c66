"""Surviving lost actors and nodes; multi-node runs on a real Ray cluster on this machine (issue 8).

The multi-node tests start ``ray start`` processes on 127.0.0.1 (the head, no CPUs: training
tasks never run there) and 127.0.0.2, 127.0.0.3 (one CPU each, started without ``ECOSIM_DATA``)
through :class:`ecosim.engine.local_cluster.LocalCluster`, and drive them with ``ecosim run
--address`` in a subprocess, as a user would. Reference logs come from one local Ray node.
"""

from __future__ import annotations

import asyncio
import os
import re
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


def assert_same_state(a, b) -> None:
    """Two SpeciesStates hold the same networks (metadata and every weight array)."""
    import numpy as np

    assert (a.species_id, a.key, a.generation, sorted(a.networks)) == (
        b.species_id,
        b.key,
        b.generation,
        sorted(b.networks),
    )
    for i, ra in a.networks.items():
        rb = b.networks[i]
        assert ra.meta() == rb.meta()
        wa, wb = ra.weights.to_arrays(), rb.weights.to_arrays()
        assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root, ray_local) -> Path:
    """The uninterrupted synchronous run on one local Ray node."""
    from ecosim.api import run

    out = tmp_path_factory.mktemp("reference") / "run"
    run(tiny(out, data_root))
    return out


# ---- pieces without Ray work -------------------------------------------------------------------------
def test_recovery_budget_allows_max_retries_per_species_and_generation_then_names_the_limit():
    from ecosim.engine.recovery import RecoveryBudget
    from ecosim.errors import ClusterError, EcosimError

    budget = RecoveryBudget(2)
    assert [budget.spend(("species", 3, 7), "species 3's actor") for _ in range(2)] == [1, 2]
    assert budget.spend(("species", 3, 8), "species 3's actor") == 1  # a new generation, a new budget
    with pytest.raises(ClusterError, match=r"species 3's actor was lost 3 times in generation 7.*max_retries = 2"):
        budget.spend(("species", 3, 7), "species 3's actor")
    assert issubclass(ClusterError, EcosimError)
    with pytest.raises(ClusterError, match="max_retries = 0"):
        RecoveryBudget(0).spend(("step", (), 1), "the step")


def test_committed_state_copy_follows_adds_and_removes_as_the_actor_commits_them():
    import numpy as np

    from ecosim.engine.recovery import with_added, with_removed
    from ecosim.evolution.population import Population, ReproductionPolicy
    from ecosim.evolution.records import NetworkRecord, SpeciesState
    from ecosim.genome import DenseLayer, Genome, init_weights

    g = Genome((1, 4, 4), (DenseLayer(3),))
    recs = [NetworkRecord(i, -1, g, init_weights(g, np.random.default_rng(i))) for i in range(4)]
    pop = Population(5, None, 0, ReproductionPolicy())
    state = SpeciesState(5, None)
    pop.add(recs[:3])
    copy = with_added(state, recs[:3])
    assert state.networks == {}  # the old state is kept for a roll-back
    pop.remove([1])
    copy = with_removed(copy, [1])
    pop.add(recs[3:])
    copy = with_added(copy, recs[3:])
    assert copy == pop.snapshot() and all(r.species_id == 5 for r in copy.networks.values())


def test_events_log_appends_in_order_keeps_types_and_rejects_unknown_kinds(tmp_path):
    from ecosim.engine.recovery import Recovery
    from ecosim.store.logs import EVENT_SCHEMA, LogWriter

    logs = LogWriter(tmp_path)
    assert read_events(tmp_path).empty and list(read_events(tmp_path).columns) == EVENT_SCHEMA.names
    first = Recovery(
        "species_recovered",
        2,
        "ActorDiedError: gone",
        lost="species 1's actor",
        redone="training",
        species_id=1,
        node_id="ab" * 28,
        pid=1234,
        networks_retrained=3,
        started=time.time() - 1.5,
    )
    logs.write_event(first.row())
    logs.write_event(Recovery("resumed", 3, started=time.time()).row())
    events = read_events(tmp_path)
    assert list(events["event"]) == ["species_recovered", "resumed"]
    assert (
        events["recovery_s"].iloc[0] >= 1.5 and events["pid"].iloc[0] == 1234 and pd.isna(events["species_id"].iloc[1])
    )
    with pytest.raises(ValueError, match="species_recovered"):
        logs.write_event({**first.row(), "event": "oops"})
    with pytest.raises(KeyError, match="colour"):
        logs.write_event({**first.row(), "colour": 1})


def test_a_task_fits_only_a_living_node_with_its_cpus_and_gpus():
    from ecosim.engine.cluster import cluster_summary, task_fits

    nodes = [
        {"Alive": True, "Resources": {"CPU": 0.0}},
        {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0}},
        {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 4.0}},
    ]
    assert task_fits(nodes, 2, 0.25) and task_fits(nodes, 1, 1)
    assert not task_fits(nodes, 4, 0) and not task_fits(nodes, 1, 2) and not task_fits(nodes[:1], 1, 0)
    assert cluster_summary(nodes) == "2 nodes, 2 CPUs, 1 GPU"


def test_the_resource_watch_waits_out_the_timeout_and_starts_again_when_nodes_come_back(monkeypatch):
    from ecosim.engine import watchdogs

    gone = [{"Alive": False, "Resources": {"CPU": 4.0, "GPU": 1.0}}]
    back = [{"Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}}]
    looks: list[int] = []
    monkeypatch.setattr(watchdogs.time, "time", lambda: float(len(looks)))  # one second per look

    def table():
        looks.append(len(looks) + 1)
        if len(looks) == 4:
            raise ConnectionError("GCS busy")  # a failed look is skipped
        return back if len(looks) == 3 else gone

    need, have, since = asyncio.run(watchdogs.wait_for_lost_resources(1, 0.5, timeout=2.5, poll=0.001, nodes=table))
    assert need == "resources.cpus_per_task = 1 CPUs and resources.gpus_per_task = 0.5 GPUs on one node"
    assert have == "0 nodes, 0 CPUs, 0 GPUs"
    assert since == 5.0 and len(looks) == 8  # the node came back at look 3: the wait began again at look 5


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


@pytest.mark.ray
def test_shutdown_returns_after_every_actor_process_has_exited_even_one_still_being_created(
    tmp_path, data_root, ray_local
):
    """Ray's teardown at exit aborts an actor still alive (a C++ stack on the user's terminal; CI, stop 24)."""
    from ecosim.data import prepare_data
    from ecosim.engine.coordinator import Ecosystem
    from ecosim.engine.local_cluster import cmdline

    cfg = tiny(tmp_path / "down", data_root)
    data, shape, classes = prepare_data(cfg)

    def species_processes() -> set[int]:
        return {int(d) for d in os.listdir("/proc") if d.isdigit() and cmdline(int(d)).startswith("ray::SpeciesActor")}

    before = species_processes()  # another test's leftovers, if any

    async def scenario() -> set[int]:
        eco = Ecosystem(cfg, tmp_path / "down", data, shape, classes)
        await eco.initialise()  # the initial species' actors
        assert eco.actors._spare is None  # no room for a spare under tiny()'s species limit: start one
        eco.actors._spare = eco.actors.spawn(-1, None)  # its creation (about a second) surely in flight
        await eco.shutdown()
        return species_processes() - before

    assert asyncio.run(scenario()) == set()


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
    from ecosim.engine.actors import SpeciesActors

    real_commit, calls = SpeciesActors.commit, []

    async def commit_after_losing_an_actor(self, sids):
        calls.append(list(sids))
        if len(calls) == 3:  # generation 1's commit (the first is the initial species')
            await kill_and_wait(self[sids[-1]])
        return await real_commit(self, sids)

    monkeypatch.setattr(SpeciesActors, "commit", commit_after_losing_an_actor)
    out = tmp_path / "lost"
    run(tiny(out, data_root))
    assert_same_logs(reference, out)
    events = read_events(out)
    assert list(events["event"]) == ["step_redone"]
    ev = events.iloc[0]
    assert ev["generation"] == 1 and ev["species_id"] == calls[2][-1] and ev["networks_retrained"] > 0
    assert "ActorDiedError" in ev["cause"] and ev["recovery_s"] > 0 and "trained again" in ev["redone"]


@pytest.mark.ray
def test_async_actor_lost_in_another_species_step_is_recreated_and_the_state_copies_stay_exact(
    tmp_path, data_root, ray_local, monkeypatch
):
    from ecosim.data import prepare_data
    from ecosim.engine.coordinator import Ecosystem

    out = tmp_path / "async"
    cfg = tiny(
        out,
        data_root,
        **{  # room for a new species: founding, the spare actor and culling happen
            "run.mode": "async",
            "run.generations": 2,
            "ecosystem.population": 6,
            "ecosystem.max_species": 4,
            "ecosystem.max_population": 8,
            "ecosystem.offspring": 3,
        },
    )
    data, shape, classes = prepare_data(cfg)
    real_cull, calls = Ecosystem._cull, []

    async def cull_after_losing_another_actor(self, generation, protect):
        calls.append(generation)
        others = sorted(set(self.actors) - set(protect or ()))
        if len(calls) == 2 and others:  # the second step: kill a species that is not stepping
            await kill_and_wait(self.actors[others[0]])
        return await real_cull(self, generation, protect)

    monkeypatch.setattr(Ecosystem, "_cull", cull_after_losing_another_actor)

    async def scenario() -> None:
        eco = Ecosystem(cfg, out, data, shape, classes)
        try:
            await eco.run()
            sids = sorted(eco.actors)
            actual = await asyncio.gather(*(eco.actors[s].snapshot.remote() for s in sids))
            for s, state in zip(sids, actual):  # the driver's copies are what the actors committed
                assert_same_state(eco.states[s], state)
        finally:
            await eco.shutdown()

    asyncio.run(scenario())
    assert_no_duplicate_or_missing_rows(out, 2)
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
        cluster.add_nodes(
            missing, num_cpus=1, env={"ECOSIM_DATA": None, "ECOSIM_CACHE": str(cluster.root / "no-cache")}
        )


def cli(cluster, *args: str) -> subprocess.Popen:
    """``ecosim ARGS --address HEAD`` in a new session (so a test can SIGKILL the whole driver)."""
    cmd = [sys.executable, "-m", "ecosim.cli", *args, "--address", cluster.address]
    return subprocess.Popen(
        cmd,
        env=cluster.driver_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_args(out: Path, data_root: Path, **kw: str) -> list[str]:
    opts = {
        "out": str(out),
        "seed": "11",
        "generations": "3",
        "dataset": "mnist",
        "data-root": str(data_root),
        "test-subset": "500",
        "train-fraction": "0.01",
        **{k.replace("_", "-"): str(v) for k, v in SIZES.items()},
    }
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
    when(lambda: (out / "checkpoints" / "gen-000000").exists(), what="generation 0's checkpoint")
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
def test_worker_node_removed_mid_generation_sync_logs_equal_the_uninterrupted_run(
    cluster, reference, tmp_path, data_root
):
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
        cluster.remove_nodes(_workers(cluster))  # at once: no node finishes the run alone
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


# ---- the no-progress watchdog (issue 19) ---------------------------------------------------------------
def test_the_stall_watch_warns_once_then_stops_and_only_while_tasks_wait():
    from ecosim.engine.watchdogs import STALL_FLOOR_S, StallWatch

    w = StallWatch(10.0)
    looks = [(0, 3, 1), (10, 3, 1), (12, 3, 1), (13, 3, 2), (25, 3, 2), (30, 3, 2), (33, 3, 2)]
    assert [w.observe(t, waiting=n, signature=e, slowest_s=0.0) for t, n, e in looks] == [
        None,
        "warn",
        None,
        "progress",
        "warn",
        None,
        "stop",
    ]
    w = StallWatch(10.0)  # tasks that all run (none waits) are never a stall, however long
    assert {w.observe(t, waiting=0, signature=1, slowest_s=0.0) for t in range(0, 100, 5)} == {None}
    w = StallWatch(-1)  # derived: a floor, then 10 × the longest task (a running one counts)
    assert w.timeout() == STALL_FLOOR_S
    w.observe(0, waiting=2, signature=1, slowest_s=60.0)
    assert w.timeout() == 600.0


@pytest.mark.ray
def test_a_stalled_generation_warns_once_stops_resumably_and_resume_gives_the_uninterrupted_logs(
    reference, tmp_path, data_root, ray_local, caplog
):
    import logging
    import threading

    from ecosim.api import resume, run
    from ecosim.cli import stopped_message
    from ecosim.errors import ResumableStop
    from ecosim.store.checkpoint import intact_checkpoint_generation

    @ray_local.remote(num_cpus=2)
    class EveryCpu:
        def ready(self) -> bool:
            return True

    hogs: list = []

    class TakeEveryCpuAfterGeneration0:  # the stall: generation 1's tasks can never start
        def on_start(self, start_generation, generations): ...
        def on_phase(self, generation, phase, in_flight): ...

        def on_generation(self, row):
            if row["generation"] == 0:
                hogs.append(EveryCpu.remote())
                ray_local.get(hogs[0].ready.remote())

    out = tmp_path / "stalled"
    timer = threading.Timer(90, lambda: [ray_local.kill(h) for h in hogs])  # without a watchdog: a late finish
    timer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="ecosim.engine.coordinator"):
            with pytest.raises(ResumableStop) as stop:
                # 4 s: on a loaded machine generation 0's first workers may take seconds to start
                run(tiny(out, data_root, **{"resources.stall_timeout": 4.0}), [TakeEveryCpuAfterGeneration0()])
    finally:
        timer.cancel()
        for h in hogs:
            ray_local.kill(h)
    warnings = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("no training task started or finished")
    ]
    warnings = [w for w in warnings if "of generation 0" not in w]  # a slow start that then went on: not the stall
    assert len(warnings) == 1, warnings
    assert re.search(r"\d+ training tasks of generation 1 wait to start \(species 0, 1\), 0 running", warnings[0])
    assert "the Ray cluster reports: 2 of 2 CPUs in use" in warnings[0]
    assert "wait to start" in stop.value.reason and stop.value.run_dir == str(out)
    assert intact_checkpoint_generation(out) == 0
    assert stopped_message(stop.value, out) == (
        f"stopped: {stop.value.reason}; generation 0 is the last complete one and is kept; "
        f"continue with: ecosim resume {out}"
    )
    assert list(read_events(out)["event"]) == ["stalled"]
    assert list(read_generations(out)["generation"]) == [0]
    resume(out, {"resources.stall_timeout": -1.0})  # 1 s would stop a run whose first tasks load torch
    assert_same_logs(reference, out)
    assert list(read_events(out)["event"]) == ["stalled", "resumed"]


@pytest.mark.cluster
@pytest.mark.slow
def test_a_node_poisoned_by_ray_issue_64627_stalls_plain_ray_but_an_ecosim_run_completes_on_it(tmp_path, data_root):
    """Issue 19: ``tests/engine/ray_issue_64627.py`` in a process of its own (its cluster's address stays in its
    folder)."""
    import json
    import shutil
    import tempfile

    script = Path(__file__).with_name("ray_issue_64627.py")
    ray_tmp = tempfile.mkdtemp(prefix="r64627-", dir="/tmp")  # short: Ray's socket paths
    repo = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "RAY_TMPDIR": ray_tmp,
        "ECOSIM_DATA": str(data_root),
        "ECOSIM_NODE_CACHE": str(tmp_path / "node-cache"),
        "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p),
    }
    env.pop("RAY_ADDRESS", None)
    try:
        proc = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=900
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["leaked_mb"] >= 100  # two 55 MB arguments held in use for ever on the node that trains
    assert result["ecosim"] == "completed" and result["generations"] == 3, result
    assert result["plain_stalled"], (
        f"Ray {result['ray']} no longer stalls: update the affected versions in docs/cluster.md"
    )


@pytest.mark.cluster
@pytest.mark.slow
def test_the_two_nodes_on_one_machine_recipe_runs_then_resumes_on_a_new_cluster_as_one_local_run(
    reference, tmp_path, data_root
):
    """Issue 19: ``deploy/two_nodes_one_machine.sh`` (ray start --head, ray start --address, ecosim --address),
    twice."""
    from ecosim.engine.local_cluster import cmdline

    script = Path(__file__).resolve().parents[2] / "deploy" / "two_nodes_one_machine.sh"
    repo = str(script.parents[1])
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "WORKER_CPUS": "2",
        "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p),
    }
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_MODE"):
        env.pop(name, None)
    out = tmp_path / "two-nodes"
    ecosim = [sys.executable, "-m", "ecosim.cli"]
    folders = []
    for args in (run_args(out, data_root, generations="2"), ["resume", str(out), "--generations", "3"]):
        proc = subprocess.run([str(script), *ecosim, *args], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        found = re.search(
            r"Ray cluster: head 127\.0\.0\.1:\d+ \(0 CPUs\), worker 127\.0\.0\.2 \(2 CPUs\), folder (\S+)", proc.stdout
        )
        assert found, proc.stdout[-2000:]
        folders.append(found.group(1))
    assert_same_logs(reference, out)
    assert list(read_events(out)["event"]) == ["resumed"]
    left = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if any(f in cmdline(p) for f in folders)]
    assert not left, f"Ray processes of the recipe still run: {left}"
    assert not any(Path(f).exists() for f in folders)


# ---- issue 21: a full disk mid-run is a resumable stop ----------------------------------------------
def _fail_checkpoint_of(generation: int, code: int):
    """A ``save_checkpoint`` that fails like a full disk from ``generation`` on."""
    import os

    from ecosim.store import checkpoint as ck

    real = ck.save_checkpoint

    def save(run_dir, g, *a, **kw):
        if g >= generation:
            raise ck.StorageError.from_os(OSError(code, os.strerror(code), str(run_dir)), "write the checkpoint")
        return real(run_dir, g, *a, **kw)

    return save


def test_a_full_disk_at_a_checkpoint_stops_resumably_keeping_the_last_complete_generation(
    tmp_path, data_root, ray_local, monkeypatch
):
    import errno

    from ecosim.api import run
    from ecosim.engine import coordinator
    from ecosim.errors import ResumableStop
    from ecosim.store.checkpoint import intact_checkpoint_generation

    monkeypatch.setattr(coordinator, "save_checkpoint", _fail_checkpoint_of(1, errno.ENOSPC))
    out = tmp_path / "full"
    with pytest.raises(ResumableStop, match="no space left on device") as info:
        run(tiny(out, data_root, **{"run.generations": 2}))
    assert info.value.run_dir == str(out) and "ecosim resume" in str(info.value)
    assert intact_checkpoint_generation(out) == 0  # generation 0 is complete and kept
    assert (out / "champion.safetensors").is_file()


@pytest.mark.slow
def test_a_real_full_disk_stops_resumably_and_resume_after_freeing_space_gives_the_uninterrupted_logs(
    reference, tmp_path, data_root
):
    """On a size-limited tmpfs (skipped where this process may not mount one): the disk fills after
    generation 0, the run stops resumably; space freed, ``ecosim resume`` gives the reference logs."""
    import subprocess

    from ecosim.api import resume, run
    from ecosim.errors import ResumableStop

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        filler = mnt / "filler"

        class FillTheDiskAfterGeneration0:
            def on_start(self, *a): ...

            def on_phase(self, *a): ...

            def on_generation(self, row):
                if row["generation"] == 0:
                    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=100"], capture_output=True)

        out = mnt / "run"
        with pytest.raises(ResumableStop, match="no space left on device"):
            run(tiny(out, data_root), [FillTheDiskAfterGeneration0()])
        filler.unlink()
        resume(out)
        assert_same_logs(reference, out)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
