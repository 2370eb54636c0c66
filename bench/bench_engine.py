"""Engine efficiency: generation wall time against the training/evaluation work it ran.

For each worker count (1 and 2 CPUs of a local Ray), runs a small synchronous MNIST ecosystem
and reports, per generation after the first, ``ideal = Σ task compute time / workers`` against
the measured wall time. Overhead (coordination, serialisation, logging, checkpointing) is
``1 − ideal / wall``; target: under 10%.

    ECOSIM_DATA=../shared/data python bench/bench_engine.py [--generations 4] [--population 16]

Each worker count runs in its own subprocess (a fresh local Ray of that size).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def one(workers: int, args: argparse.Namespace) -> dict:
    from ecosim.api import run
    from ecosim.config import Config
    from ecosim.store.logs import read_generations

    out = Path(tempfile.mkdtemp()) / f"w{workers}"
    cfg = Config().with_overrides(
        {
            "run.out": str(out),
            "run.generations": args.generations,
            "ecosystem.population": args.population,
            "ecosystem.species": 4,
            "ecosystem.max_species": 8,
            "ecosystem.max_population": args.population + args.population // 2,
            "ecosystem.offspring": args.population // 2,
            "resources.num_cpus": workers,
            "data.test_subset": args.test_subset,
        }
    )
    run(cfg)
    g = read_generations(out)
    g = g[g["generation"] > 0]  # generation 0 includes actor start-up and the dataset put
    wall, task = float(g["wall_time_s"].sum()), float(g["task_time_s"].sum())
    ideal = task / workers
    return {"workers": workers, "wall_s": wall, "task_s": task, "ideal_s": ideal, "overhead": 1 - ideal / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--population", type=int, default=16)
    p.add_argument("--test-subset", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.workers:
        print(json.dumps(one(args.workers, args)))
        return
    rows = []
    for w in (1, 2):
        cmd = [
            sys.executable,
            __file__,
            "--workers",
            str(w),
            "--generations",
            str(args.generations),
            "--population",
            str(args.population),
            "--test-subset",
            str(args.test_subset),
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
    print(f"{'workers':>7} {'wall s':>8} {'Σ task s':>9} {'ideal s':>8} {'overhead':>9}")
    for r in rows:
        print(f"{r['workers']:>7} {r['wall_s']:>8.2f} {r['task_s']:>9.2f} {r['ideal_s']:>8.2f} {r['overhead']:>8.1%}")
    print(f"speed-up 2 vs 1 workers: {rows[0]['wall_s'] / rows[1]['wall_s']:.2f}x (target overhead < 10%)")


if __name__ == "__main__":
    main()
