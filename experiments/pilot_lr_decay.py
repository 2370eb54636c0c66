"""Pilot of the learning-rate decay lever (issue 17, session 33; ``docs/design.md``, levers-anneal).

Does a lower learning rate lift networks that have plateaued? Takes every network of a run's newest
checkpoint (or, with ``--baseline LAYERS``, one fixed network trained 100 generations from N(0, 0.1)
first), trains each ``--trainings`` more generations from the same weights at each rate factor, on
the run's own data split and training settings, and prints the mean validation and test accuracy
(%) of the second half of those trainings and their sd:

    python experiments/pilot_lr_decay.py runs/compare/mnist-levers-halving/seed0 --scales 1 0.3 0.1
    python experiments/pilot_lr_decay.py runs/compare/mnist-levers-halving/seed0 --baseline "C10[3x3]-C20s2[3x3]"

One CPU thread; a few minutes per network. The training of generation k uses the seed 5000 + k
for every factor, so the factors see the same subsets.
"""

from __future__ import annotations

import argparse

import numpy as np

from ecosim.config import load_config
from ecosim.data.arrays import prepare_data
from ecosim.genome.initial import genome_from_layers
from ecosim.genome.weights import init_weights
from ecosim.phenotype.training import train_and_evaluate
from ecosim.store.checkpoint import load_checkpoint


def main() -> None:
    """Parse the arguments, train, print one line per network and factor."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="a run directory with a checkpoint (its config.toml gives data and training)")
    ap.add_argument("--trainings", type=int, default=20, help="trainings per network and factor (20)")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.3, 0.1], help="rate factors (1 0.3 0.1)")
    ap.add_argument("--baseline", default="", help="a fixed network's layers instead of the checkpoint's networks")
    args = ap.parse_args()
    if args.trainings < 2 or any(not 0 < s <= 1 for s in args.scales):
        ap.error("--trainings must be >= 2 and every --scales value in (0, 1]")
    cfg = load_config(f"{args.run_dir}/config.toml", run_config=True)
    data, shape, classes = prepare_data(cfg)
    nets = []
    if args.baseline:
        rng = np.random.default_rng(7)
        genome = genome_from_layers(args.baseline, shape, classes, rng)
        weights = init_weights(genome, rng, cfg.mutation.init_std)
        for k in range(100):
            weights = train_and_evaluate(genome, weights, data, cfg.training, 1000 + k, False).weights
        nets.append((f"baseline {args.baseline}", genome, weights))
    else:
        for species in load_checkpoint(args.run_dir)["species"]:
            nets += [(f"network {i}", rec.genome, rec.weights) for i, rec in sorted(species["networks"].items())]
    half = args.trainings // 2
    for name, genome, start in nets:
        for scale in args.scales:
            weights, val, test = start, [], []
            for k in range(args.trainings):
                res = train_and_evaluate(genome, weights, data, cfg.training, 5000 + k, False, 1, scale)
                weights = res.weights
                val.append(100 * res.fitness)
                test.append(100 * (res.test_accuracy or 0.0))
            print(
                f"{name} ({genome.n_conv} conv) x{scale:g}: validation {np.mean(val[half:]):.2f} "
                f"(sd {np.std(val[half:]):.2f}), test {np.mean(test[half:]):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
