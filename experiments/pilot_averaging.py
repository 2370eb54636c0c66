"""Pilot (issue 17): is the average of sibling networks better than the best sibling, at no training cost?

A search that inherits weights (Lamarckian, §II-B) makes networks of one genome that share an
ancestor: a parent's clones, trained on different random subsets. Averaging such siblings' weights
(arithmetic crossover) costs one evaluation, no training; where it scores above the best sibling on
the validation split, it is a network better than any the same compute trained. A fixed baseline has
no such siblings (its copies start from independent draws). This pilot measures it before a lever
is built, with ecosim's own training (Adadelta, batch 128, a fresh random 10% per generation):

1. a parent of ``--genome`` trains ``--parent-generations`` generations;
2. ``--children`` clones of it train on, each on its own subsets, for up to ``--child-generations``;
3. after each child generation: each child's validation and test accuracy, and those of the
   children's weight average (every array the mean over the children);
4. the control at equal training compute: the parent alone, trained on as many generations as the
   children trained together (``--children`` × the child generations).

    python experiments/pilot_averaging.py --dataset mnist --data-root ../shared/data --seeds 0 1

Prints one line per seed and child generation, and the mean over seeds of (average − best child),
(average − mean child) and (average − the parent alone) on the validation split, in points.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecosim.config import load_config  # noqa: E402
from ecosim.data.arrays import prepare_data  # noqa: E402
from ecosim.evolution.initial import starting_genome  # noqa: E402
from ecosim.genome.weights import LayerWeights, Weights, init_weights  # noqa: E402
from ecosim.phenotype.network import build_phenotype  # noqa: E402
from ecosim.phenotype.records import TrainingParams  # noqa: E402
from ecosim.phenotype.training import train_and_evaluate  # noqa: E402


def mean_weights(ws: list[Weights]) -> Weights:
    """Every array the mean over ``ws`` (networks of one genome).

    Raises:
        ValueError: the networks' arrays differ in number or shape (different genomes).
    """
    shapes = [[x.shape for x in w.arrays()] for w in ws]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("networks of different genomes cannot be averaged")
    layers = []
    for parts in zip(*(w.layers for w in ws), strict=True):
        nodes = tuple(np.mean([p.nodes[j] for p in parts], axis=0).astype(np.float32) for j in range(len(parts[0])))
        layers.append(LayerWeights(nodes, np.mean([p.bias for p in parts], axis=0).astype(np.float32)))
    return Weights(tuple(layers))


def accuracy(genome, weights: Weights, images: np.ndarray, labels: np.ndarray, mean, std) -> float:
    """Accuracy of the network on ``images`` ``(N, C, H, W)`` uint8 (dense layout, channels-first)."""
    model = build_phenotype(genome, weights, activation="relu", conv_mode="dense").eval()
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    right = 0
    with torch.inference_mode():
        for i in range(0, len(images), 500):
            x = (torch.from_numpy(images[i : i + 500]).float() / 255.0 - m) / s
            right += int((model(x).argmax(1).numpy() == labels[i : i + 500]).sum())
    return right / len(images)


def main(argv: list[str] | None = None) -> int:
    """Run the pilot; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-root", default=None)
    p.add_argument("--genome", default="C10[3x3]-C20s2[3x3]", help="hidden layers (ecosystem.initial_layers form)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--parent-generations", type=int, default=30)
    p.add_argument("--children", type=int, default=4)
    p.add_argument("--child-generations", type=int, default=4)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    gaps: dict[int, list[tuple[float, float, float]]] = {}
    for seed in a.seeds:
        config = load_config(
            None,
            {
                "run.seed": seed,
                "data.dataset": a.dataset,
                "data.data_root": a.data_root or "",
                "data.validation_fraction": 0.1,
                "ecosystem.initial_layers": a.genome,
            },
        )
        data, input_shape, classes = prepare_data(config)
        genome = starting_genome(input_shape, classes, config.ecosystem, config.mutation, seed)
        assert data.test_images is not None and data.test_labels is not None  # a validation split keeps the test set
        test_images, test_labels = data.test_images, data.test_labels
        settings = TrainingParams()
        parent = init_weights(genome, np.random.default_rng([seed, 7]), 0.1)
        for g in range(a.parent_generations):
            parent = train_and_evaluate(genome, parent, data, settings, seed * 100_003 + g, False).weights
        val = accuracy(genome, parent, data.eval_images, data.eval_labels, data.mean, data.std)
        print(f"seed {seed}: {genome.summary()} parent {val:.4f}")
        children = [parent] * a.children
        lone, lone_generations = parent, 0
        for c in range(1, a.child_generations + 1):
            while lone_generations < a.children * c:  # the same trainings, one network
                lone_generations += 1
                lone = train_and_evaluate(
                    genome, lone, data, settings, seed * 100_003 + 5_000 + lone_generations, False
                ).weights
            lv = accuracy(genome, lone, data.eval_images, data.eval_labels, data.mean, data.std)
            lt = accuracy(genome, lone, test_images, test_labels, data.mean, data.std)
            children = [
                train_and_evaluate(genome, w, data, settings, seed * 100_003 + 10_000 * (k + 1) + c, False).weights
                for k, w in enumerate(children)
            ]
            vals = [accuracy(genome, w, data.eval_images, data.eval_labels, data.mean, data.std) for w in children]
            tests = [accuracy(genome, w, test_images, test_labels, data.mean, data.std) for w in children]
            avg = mean_weights(children)
            av = accuracy(genome, avg, data.eval_images, data.eval_labels, data.mean, data.std)
            at = accuracy(genome, avg, test_images, test_labels, data.mean, data.std)
            best = int(np.argmax(vals))
            print(
                f"seed {seed} child generation {c}: children validation {np.mean(vals):.4f} "
                f"(best {vals[best]:.4f}, its test {tests[best]:.4f}); average validation {av:.4f}, test {at:.4f}; "
                f"the parent alone after {lone_generations} more generations: validation {lv:.4f}, test {lt:.4f}",
                flush=True,
            )
            gaps.setdefault(c, []).append((100 * (av - vals[best]), 100 * (av - float(np.mean(vals))), 100 * (av - lv)))
    for gen, rows in sorted(gaps.items()):
        arr = np.array(rows)
        print(
            f"child generation {gen}: average − best child {arr[:, 0].mean():+.2f} points, "
            f"average − mean child {arr[:, 1].mean():+.2f}, average − the parent alone at equal compute "
            f"{arr[:, 2].mean():+.2f} ({len(rows)} seeds; validation)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
