"""Hypothesis strategies: networks grown by random chains of mutations and crossovers."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ecosim.genome import Genome, MutationParams, crossover, init_weights, mutate

INPUT_SHAPES = [(1, 28, 28), (3, 32, 32), (1, 7, 9), (2, 5, 5), (1, 1, 1)]


def grow(seed: int, steps: int, input_shape=(1, 28, 28), classes: int = 10, params=MutationParams()):
    """A network from the minimal genome after ``steps`` random mutations (eqs. 3–6) and crossovers."""
    rng = np.random.default_rng(seed)
    g = Genome.minimal(input_shape, classes)
    w = init_weights(g, rng)
    pool = [(g, w)]
    for _ in range(steps):
        g0, w0 = pool[int(rng.integers(len(pool)))]
        if len(pool) > 1 and rng.random() < 0.25:
            g1, w1 = pool[int(rng.integers(len(pool)))]
            g, w = crossover(g0, w0, rng.random(), g1, w1, rng.random(), rng, params)
            pool.append((g, w))
            continue
        r = mutate(g0, w0, rng, params)
        if r.ok:
            pool.append((r.genome, r.weights))
    return pool[-1]


@st.composite
def networks(draw, input_shapes=INPUT_SHAPES, max_steps: int = 25, params=MutationParams()):
    """``(genome, weights)`` from a random chain of mutations and crossovers."""
    seed = draw(st.integers(0, 2**32 - 1))
    steps = draw(st.integers(0, max_steps))
    shape = draw(st.sampled_from(input_shapes))
    return grow(seed, steps, shape, params=params)
