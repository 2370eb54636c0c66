"""Crossover and genome similarity (paper §II-B, §III-F, eqs. 7–8)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chains import networks
from ecosim.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    check_weights,
    constraint_violation,
    crossover,
    init_weights,
    overlap,
    similarity,
)


def _net(layers, shape=(1, 28, 28), seed=0):
    g = Genome(shape, tuple(layers))
    return g, init_weights(g, np.random.default_rng(seed))


@settings(max_examples=60, deadline=None)
@given(networks(), networks())
def test_similarity_is_in_unit_interval_symmetric_and_one_for_itself(a, b):
    ga, gb = a[0], b[0]
    assert 0 <= similarity(ga, gb) <= 1
    assert similarity(ga, gb) == similarity(gb, ga)
    assert similarity(ga, ga) == 1.0


def test_similarity_by_hand():
    a = Genome((1, 28, 28), (ConvLayer(((1, 1),) * 4), DenseLayer(8), DenseLayer(10)))
    b = Genome((1, 28, 28), (ConvLayer(((1, 1),) * 2), ConvLayer(((1, 1),) * 3), DenseLayer(10)))
    # aligned: conv0 min(4,2)=2, output 10 → O = 12; N_a = 22, N_b = 15
    assert overlap(a, b) == 12
    assert similarity(a, b) == pytest.approx(12 / (22 + 15 - 12))


@settings(max_examples=60, deadline=None)
@given(
    a=networks(input_shapes=[(1, 28, 28)]),
    b=networks(input_shapes=[(1, 28, 28)]),
    fa=st.floats(0, 1),
    fb=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_offspring_is_valid_and_parents_are_untouched(a, b, fa, fb, seed):
    before = [x.copy() for x in list(a[1].arrays()) + list(b[1].arrays())]
    g, w = crossover(a[0], a[1], fa, b[0], b[1], fb, np.random.default_rng(seed))
    check_weights(g, w)
    assert constraint_violation(g) is None
    after = list(a[1].arrays()) + list(b[1].arrays())
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
    for x in w.arrays():
        assert not any(np.shares_memory(x, y) for y in after)


@settings(max_examples=40, deadline=None)
@given(a=networks(input_shapes=[(1, 28, 28)]), seed=st.integers(0, 2**32 - 1))
def test_same_species_offspring_keep_the_key_and_inherit_genes_unaltered(a, seed):
    g, w = a
    other = init_weights(g, np.random.default_rng(seed))
    cg, cw = crossover(g, w, 0.7, g, other, 0.4, np.random.default_rng(seed))
    assert cg == g and cg.species_key == g.species_key
    for la, lb, lc in zip(w.layers, other.layers, cw.layers):
        for x, y, z in zip(la.nodes, lb.nodes, lc.nodes):
            assert np.array_equal(z, x) or np.array_equal(z, y)


def test_fitter_parent_with_certainty_is_copied():
    a = _net([ConvLayer(((3, 3), (1, 1))), DenseLayer(5), DenseLayer(10)])
    b = _net([DenseLayer(7), DenseLayer(3), DenseLayer(10)], seed=1)
    g, w = crossover(a[0], a[1], 1.0, b[0], b[1], 0.0, np.random.default_rng(0))
    assert g == a[0]
    assert all(np.array_equal(x, y) for x, y in zip(w.arrays(), a[1].arrays()))


def test_one_layer_parent_crossed_with_three_layer_parent():
    a = _net([DenseLayer(10)])
    b = _net([ConvLayer(((3, 3),) * 2, (2, 2)), DenseLayer(4), DenseLayer(10)], seed=1)
    keys = set()
    for s in range(30):
        g, w = crossover(a[0], a[1], 0.5, b[0], b[1], 0.5, np.random.default_rng(s))
        check_weights(g, w)
        keys.add(g.species_key)
    assert len(keys) > 1  # excess layers sometimes inherited, sometimes not


def test_parent_without_hidden_dense_layer():
    a = _net([ConvLayer(((1, 1),) * 3), DenseLayer(10)])
    b = _net([ConvLayer(((5, 5),) * 2, (3, 1)), DenseLayer(6), DenseLayer(10)], seed=2)
    for s in range(20):
        g, w = crossover(a[0], a[1], 0.6, b[0], b[1], 0.6, np.random.default_rng(s))
        check_weights(g, w)
        assert constraint_violation(g) is None


def test_population_of_identical_genomes():
    g, w = _net([ConvLayer(((1, 1), (3, 3))), DenseLayer(10)])
    pop = [(g, init_weights(g, np.random.default_rng(i))) for i in range(5)]
    rng = np.random.default_rng(0)
    for _ in range(10):
        i, j = rng.choice(5, 2, replace=False)
        cg, cw = crossover(pop[i][0], pop[i][1], 0.5, pop[j][0], pop[j][1], 0.5, rng)
        assert cg == g and similarity(cg, g) == 1.0


def test_kernels_are_cropped_when_the_offspring_input_is_smaller():
    a = _net([ConvLayer(((1, 1),), (4, 4)), ConvLayer(((3, 3),)), DenseLayer(10)])
    b = _net([ConvLayer(((1, 1),)), ConvLayer(((13, 13),)), DenseLayer(10)], seed=3)
    for s in range(20):
        g, w = crossover(a[0], a[1], 0.5, b[0], b[1], 0.5, np.random.default_rng(s))
        assert constraint_violation(g) is None
        check_weights(g, w)
