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
    new_layer_nodes,
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
    wide = MutationParams(function_preserving=True, nodes_per_mutation=1 + seed % 5)  # several nodes at once too
    for op, params in ((M.grow_kernel, PRESERVE), (M.add_node, PRESERVE), (M.add_node, wide)):
        try:
            cg, cw = op(g, w, np.random.default_rng(seed), params)
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
    assert cg.layers[2].nodes == max(new_layer_nodes(g, PRESERVE), 5)  # ≥ its 5 inputs: an identity fits
    torch.testing.assert_close(_out(cg, cw, x), before, rtol=1e-5, atol=1e-5)


#: every mutation whose offspring can compute exactly what its parent did (issue 17 B)
GROWTH = ("add_conv_layer", "add_dense_layer", "add_node", "grow_kernel")


def _grow(kind, g, w, rng, params):
    if kind == "add_conv_layer":
        return M.add_layer(g, w, rng, params, layer_type="conv")
    if kind == "add_dense_layer":
        return M.add_layer(g, w, rng, params, layer_type="dense")
    return {"add_node": M.add_node, "grow_kernel": M.grow_kernel}[kind](g, w, rng, params)


@pytest.mark.parametrize("kind", GROWTH)
@settings(max_examples=20, deadline=None)
@given(
    net=networks(input_shapes=[(1, 12, 12), (3, 10, 10)], max_steps=12),
    seed=st.integers(0, 2**32 - 1),
    narrow=st.booleans(),
)
def test_function_preserving_growth_is_exact_on_signed_inputs_at_every_position_and_width(kind, net, seed, narrow):
    """Exact growth on random genomes: the offspring's log-probabilities equal its parent's to 1e-5.

    Inputs are signed (the standardised image), positions and widths random: a conv layer on the
    image, an FC layer on thousands of inputs (``narrow`` caps new layers below the input count).
    """
    g, w = net
    params = MutationParams(
        function_preserving=True, new_layer_max_nodes=8 if narrow else 64, new_kernel_shape="3x3" if seed % 2 else ""
    )
    x = _x(g, n=6, seed=seed % 1000)
    try:
        cg, cw = _grow(kind, g, w, np.random.default_rng(seed), params)
    except MutationRejected:
        return
    torch.testing.assert_close(_out(cg, cw, x), _out(g, w, x), rtol=1e-5, atol=1e-5)


def test_function_preserving_layer_on_the_image_and_on_a_wide_input_is_exact():
    """The two cases ecosim <= 0.2 got wrong: a conv identity on the signed image (ReLU dropped its
    negative half) and an FC layer on more inputs than ``new_layer_max_nodes`` (next layer redrawn)."""
    g = Genome((1, 28, 28), (ConvLayer(((3, 3),) * 10), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    x = _x(g, n=8)
    before = _out(g, w, x)
    cg, cw = M.add_layer(g, w, np.random.default_rng(1), PRESERVE, layer_type="conv", position=0)
    assert cg.layers[0].nodes == max(new_layer_nodes(g, PRESERVE), 2)  # a ± pair for the one channel
    torch.testing.assert_close(_out(cg, cw, x), before, rtol=1e-5, atol=1e-5)
    cg, cw = M.add_layer(g, w, np.random.default_rng(1), PRESERVE, layer_type="dense", position=0)
    assert cg.layers[1].nodes == 20  # ± copy of the 10 output nodes, not an identity on 7840 inputs
    torch.testing.assert_close(_out(cg, cw, x), before, rtol=1e-5, atol=1e-5)


def test_without_function_preservation_new_structure_is_drawn_from_n_0_0_1():
    g = Genome((1, 12, 12), (ConvLayer(((1, 1),) * 40), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    cg, cw = M.add_node(g, w, np.random.default_rng(3), layer=0)
    new_inputs = np.concatenate([n[-1].ravel() for n in cw.layers[1].nodes])  # the new channel's block
    assert abs(new_inputs.std() - 0.1) < 0.01
