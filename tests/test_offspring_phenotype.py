"""Offspring of every operator build and run; function-preserving options keep the parent's output.

Paper §II-B, §III-D to §III-F, with the torch phenotype.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from chains import networks
from ecosim.errors import MutationRejected
from ecosim.genome import (
    OPERATORS,
    ConvLayer,
    DenseLayer,
    Genome,
    MutationKind,
    MutationParams,
    crossover,
    init_weights,
)
from ecosim.genome import mutation as M
from ecosim.phenotype.network import build_phenotype, extract_weights

PRESERVE = MutationParams(function_preserving=True)


def _out(genome, weights, x):
    with torch.no_grad():
        return build_phenotype(genome, weights)(x)


def _x(genome, n=4, seed=0, nonneg=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *genome.input_shape), generator=g)
    return x.abs() if nonneg else x


@pytest.mark.parametrize("kind", list(MutationKind))
@settings(max_examples=15, deadline=None)
@given(net=networks(max_steps=15), seed=st.integers(0, 2**32 - 1))
def test_every_mutation_offspring_builds_and_gives_log_probabilities(kind, net, seed):
    g, w = net
    try:
        cg, cw = OPERATORS[kind](g, w, np.random.default_rng(seed))
    except MutationRejected:
        return
    out = _out(cg, cw, _x(cg))
    assert out.shape == (4, cg.classes)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(4), rtol=1e-4, atol=1e-4)
    back = extract_weights(build_phenotype(cg, cw))
    assert all(np.array_equal(a, b) for a, b in zip(back.arrays(), cw.arrays()))


@settings(max_examples=30, deadline=None)
@given(a=networks(input_shapes=[(3, 32, 32)]), b=networks(input_shapes=[(3, 32, 32)]), seed=st.integers(0, 2**32 - 1))
def test_crossover_offspring_builds_and_runs(a, b, seed):
    g, w = crossover(a[0], a[1], 0.6, b[0], b[1], 0.3, np.random.default_rng(seed))
    assert _out(g, w, _x(g)).shape == (4, 10)


@settings(max_examples=25, deadline=None)
@given(net=networks(input_shapes=[(1, 12, 12)], max_steps=12), seed=st.integers(0, 2**32 - 1))
def test_function_preserving_kernel_growth_and_node_addition_keep_the_output(net, seed):
    g, w = net
    x = _x(g)
    before = _out(g, w, x)
    for op in (M.grow_kernel, M.add_node):
        try:
            cg, cw = op(g, w, np.random.default_rng(seed), PRESERVE)
        except MutationRejected:
            continue
        torch.testing.assert_close(_out(cg, cw, x), before, rtol=1e-5, atol=1e-5)


def test_function_preserving_layer_insertion_after_a_relu_layer_keeps_the_output():
    g = Genome((1, 12, 12), (ConvLayer(((3, 3), (1, 1), (3, 1))), DenseLayer(5), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    x = _x(g)
    before = _out(g, w, x)
    cg, cw = M.add_layer(g, w, np.random.default_rng(1), PRESERVE, layer_type="conv", position=1)
    torch.testing.assert_close(_out(cg, cw, x), before, rtol=1e-5, atol=1e-5)
    cg, cw = M.add_layer(g, w, np.random.default_rng(1), PRESERVE, layer_type="dense", position=1)
    assert cg.layers[2].nodes == max(M.new_layer_nodes(g, PRESERVE), 5)  # ≥ its 5 inputs: an identity fits
    torch.testing.assert_close(_out(cg, cw, x), before, rtol=1e-5, atol=1e-5)


def test_without_function_preservation_new_structure_is_drawn_from_n_0_0_1():
    g = Genome((1, 12, 12), (ConvLayer(((1, 1),) * 40), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    cg, cw = M.add_node(g, w, np.random.default_rng(3), layer=0)
    new_inputs = np.concatenate([n[-1].ravel() for n in cw.layers[1].nodes])  # the new channel's block
    assert abs(new_inputs.std() - 0.1) < 0.01
