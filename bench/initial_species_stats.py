"""Evidence for §III-A: kernel shapes and strides of the initial species over several seeds.

A script, not a test:

    PYTHONPATH=. python bench/initial_species_stats.py [--method species|walk] [--seeds 10] [--species 8]

* ``species``: :func:`ecosim.genome.initial.initial_species_genomes` (species-changing
  mutations only; kernels and strides as eq. 1 gives them).
* ``walk``: the coordinator's former loop: an isolated network keeps every mutation drawn by
  eqs. 3–6 (all kinds) until its species key is new. Runs against any ecosim version (e.g.
  ``PYTHONPATH=/path/to/old/checkout``), which gives the "before" figures.

Prints the mean kernel area, the share of 1×1 kernels, the largest kernel, the strides of the
conv layers, and the species of the first seed. Eq. 1 alone gives a mean area ≈ 1.6 and ≈ 76%
1×1 kernels on MNIST.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from ecosim.genome import Genome, init_weights, mutate


def walk(minimal: Genome, count: int, rng: np.random.Generator) -> list[Genome]:
    """The former initial-species loop: every kind drawn until the key is new."""
    genomes, keys = [minimal], {minimal.species_key}
    while len(genomes) < count:
        g, w = minimal, init_weights(minimal, rng)
        for _ in range(10_000):
            r = mutate(g, w, rng)
            if r.ok:
                g, w = r.genome, r.weights
                if g.species_key not in keys:
                    break
        keys.add(g.species_key)
        genomes.append(g)
    return genomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", choices=("species", "walk"), default="species")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--species", type=int, default=8)
    ap.add_argument("--shape", default="1,28,28")
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    minimal = Genome.minimal(shape, 10)  # type: ignore[arg-type]
    areas: list[int] = []
    strides: Counter[tuple[int, int]] = Counter()
    nodes: list[int] = []
    first: list[Genome] = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        if args.method == "walk":
            genomes = walk(minimal, args.species, rng)
        else:
            from ecosim.genome.initial import initial_species_genomes

            genomes = [g for g, _ in initial_species_genomes(minimal, args.species, rng)]
        first = first or genomes
        for g in genomes:
            for layer in g.conv_layers:
                areas.extend(h * w for h, w in layer.kernels)
                strides[layer.stride] += 1
            nodes.extend(layer.nodes for layer in g.layers[:-1])
    a = np.array(areas)
    print(f"method={args.method}, {args.seeds} seeds × {args.species} species, input {shape}")
    print(f"kernels: {len(a)}, mean area {a.mean():.2f}, 1x1 share {(a == 1).mean():.0%}, largest area {a.max()}")
    print(
        f"conv layers: {sum(strides.values())}, strides: "
        + ", ".join(f"{s[0]}x{s[1]}: {n}" for s, n in sorted(strides.items(), key=lambda kv: -kv[1]))
    )
    print(f"nodes per conv/hidden layer: mean {np.mean(nodes):.1f}")
    print(
        "seed 0 species:", " | ".join(g.summary() if len(g.summary()) < 60 else g.summary()[:57] + "..." for g in first)
    )


if __name__ == "__main__":
    main()
