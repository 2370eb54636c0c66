"""Cluster scale on one machine: generation wall time and coordinator overhead with 1, 2 and 4
simulated nodes, and the extra wall time a node loss costs (``docs/cluster.md``).

Each configuration is a fresh :class:`~ecosim.engine.local_cluster.LocalCluster` (``ray start``
processes on 127.0.0.x; the head has no CPUs, so every task runs on a simulated node) with the
same number of logical CPUs in total, split over 1, 2 or 4 nodes, and one synchronous MNIST run
driven by ``ecosim run --address`` (a separate driver process, as on a real cluster). Per
generation after the first (generation 0 includes starting actors and workers):

* ``wall``: the generation's wall time (s);
* ``ideal = Σ task compute time / total CPUs``; ``overhead = 1 − ideal / wall`` (coordination,
  transfers between nodes, scheduling, logging, checkpointing), as ``bench/bench_engine.py``;
* ``evolve``: the coordinator's serial phase (reproduction, placement, culling), s.

Then the run with the most nodes is repeated and one node (one that hosts a species actor, if
any) is SIGKILLed while generation 1 trains: the table compares that generation's wall time with
the uninterrupted run's, and the events log says what was redone and how long recovery took.

    ECOSIM_DATA=../shared/data python bench/bench_cluster.py [--generations 4] [--population 8] \
        [--total-cpus 4] [--nodes 1,2,4]

On a machine with fewer cores than ``--total-cpus`` the CPUs are logical (oversubscribed): the
same for every configuration, so the ratios compare distributions of the same work.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(cluster, out: Path, args: argparse.Namespace, on_generation_1=None) -> float:
    """One synchronous run on ``cluster``; returns its total wall time (s)."""
    cmd = [
        sys.executable,
        "-m",
        "ecosim.cli",
        "run",
        "--address",
        cluster.address,
        "--out",
        str(out),
        "--seed",
        str(args.seed),
        "--generations",
        str(args.generations),
        "--dataset",
        "mnist",
        "--test-subset",
        str(args.test_subset),
        "--train-fraction",
        str(args.train_fraction),
        "--population",
        str(args.population),
        "--species",
        str(args.species),
        "--max-species",
        str(args.species),
        "--max-population",
        str(args.population + args.population // 2),
        "--offspring",
        str(args.population // 2),
    ]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=cluster.driver_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if on_generation_1 is not None:
        while not (out / "checkpoints" / "gen-000000").exists() and proc.poll() is None:
            time.sleep(0.05)
        while not cluster.pids("train_network_task") and proc.poll() is None:
            time.sleep(0.05)
        on_generation_1()
    text, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{text[-3000:]}")
    return time.perf_counter() - t0


def _summary(out: Path, cpus: int) -> dict:
    from ecosim.store.logs import read_generations

    g = read_generations(out)
    later = g[g["generation"] > 0]
    wall, task = float(later["wall_time_s"].mean()), float(later["task_time_s"].mean())
    return {
        "wall": wall,
        "ideal": task / cpus,
        "overhead": 1 - (task / cpus) / wall,
        "evolve": float(later["evolve_phase_s"].mean()),
        "per_generation": dict(zip(g["generation"].astype(int), g["wall_time_s"].astype(float))),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--species", type=int, default=4)
    p.add_argument("--total-cpus", type=int, default=4, help="logical CPUs, split evenly over the nodes")
    p.add_argument("--nodes", default="1,2,4", help="node counts to compare (each must divide --total-cpus)")
    p.add_argument("--test-subset", type=int, default=1000)
    p.add_argument("--train-fraction", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=os.environ.get("ECOSIM_DATA", ""))
    args = p.parse_args()

    from ecosim.engine.local_cluster import LocalCluster
    from ecosim.store.logs import read_events

    counts = [int(n) for n in args.nodes.split(",")]
    if any(args.total_cpus % n for n in counts):
        raise SystemExit(f"--nodes {args.nodes}: every count must divide --total-cpus {args.total_cpus}")
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    rows = {}
    for n in counts:
        with LocalCluster(head_cpus=0) as cluster:
            cluster.add_nodes(n, num_cpus=args.total_cpus // n)
            out = root / f"nodes{n}"
            total = _run(cluster, out, args)
        rows[n] = {**_summary(out, args.total_cpus), "total": total}
        print(f"  {n} node(s): {rows[n]['wall']:.2f} s per generation, run {total:.1f} s", file=sys.stderr, flush=True)

    n = max(counts)
    lost: dict = {}
    with LocalCluster(head_cpus=0) as cluster:
        nodes = cluster.add_nodes(n, num_cpus=args.total_cpus // n)

        def lose_a_node() -> None:
            hosts = [cluster.node_of(pid) for pid in cluster.pids("ray::SpeciesActor")]
            victim = next((h for h in hosts if h is not None and not h.head), nodes[-1])
            lost["ip"] = victim.ip
            lost["actors"] = sum(1 for h in hosts if h is victim)
            cluster.remove_node(victim)

        out = root / f"nodes{n}-loss"
        total = _run(cluster, out, args, on_generation_1=lose_a_node)
    loss = {**_summary(out, args.total_cpus), "total": total}
    events = read_events(out)

    base = rows[counts[0]]
    print(
        f"\nsynchronous MNIST, population {args.population}, {args.species} species, {args.total_cpus} logical CPUs "
        f"on {os.cpu_count()} cores, generations 1..{args.generations - 1} (means)"
    )
    print(f"{'nodes':>5} {'CPUs/node':>9} {'wall s':>7} {'× 1 node':>8} {'ideal s':>8} {'overhead':>9} {'evolve s':>9}")
    for k, r in rows.items():
        print(
            f"{k:>5} {args.total_cpus // k:>9} {r['wall']:>7.2f} {r['wall'] / base['wall']:>8.2f} {r['ideal']:>8.2f} "
            f"{r['overhead']:>8.1%} {r['evolve']:>9.3f}"
        )
    ref = rows[n]["per_generation"]
    g1, g1_ref = loss["per_generation"].get(1, float("nan")), ref.get(1, float("nan"))
    print(
        f"\nnode loss ({n} nodes, node {lost.get('ip')} with {lost.get('actors', 0)} species actor(s) SIGKILLed in "
        "generation 1):"
    )
    print(
        f"  generation 1 wall: {g1:.2f} s against {g1_ref:.2f} s uninterrupted: +{g1 - g1_ref:.2f} s "
        f"({g1 / g1_ref:.2f}×)"
    )
    later = [g for g in ref if g > 1]
    if later:
        after = sum(loss["per_generation"][g] for g in later) / len(later)
        before = sum(ref[g] for g in later) / len(later)
        print(f"  later generations on {n - 1} node(s): {after:.2f} s against {before:.2f} s ({after / before:.2f}×)")
    print(
        f"  whole run: {loss['total']:.1f} s against {rows[n]['total']:.1f} s "
        f"(+{loss['total'] - rows[n]['total']:.1f} s)"
    )
    for ev in events.itertuples():
        print(
            f"  event {ev.event}: {ev.lost}; redone: {ev.redone}; {ev.networks_retrained} networks retrained; "
            f"recovery {ev.recovery_s:.2f} s"
        )
    if events.empty:
        print("  no actor was lost (the node ran training tasks only; Ray retried them on the nodes left)")
    print(f"\nrun directories: {root}")


if __name__ == "__main__":
    main()
