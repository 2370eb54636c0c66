"""Size and shape of new structure (paper §III-A, §III-D, eq. 1): one rule for new layers and initial layers."""

import numpy as np
import pytest

from ecosim.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    MutationParams,
    add_layer,
    init_weights,
    new_layer_nodes,
)
from ecosim.genome.initial import genome_from_layers


@pytest.mark.parametrize(
    "layers, expected",
    [
        ((DenseLayer(10),), 10),  # floor(10)
        ((ConvLayer(((1, 1),) * 3), DenseLayer(6), DenseLayer(10)), 8),  # floor(19/3) = 6 → min 8
        ((DenseLayer(200), DenseLayer(100), DenseLayer(10)), 64),  # floor(103.3) → max 64
        ((ConvLayer(((1, 1),) * 20), DenseLayer(10)), 15),
    ],
)
def test_new_layer_nodes_is_the_floor_of_mean_nodes_per_layer_clipped(layers, expected):
    assert new_layer_nodes(Genome((1, 28, 28), layers)) == expected
    assert new_layer_nodes(
        Genome((1, 28, 28), layers), MutationParams(new_layer_min_nodes=1, new_layer_max_nodes=1000)
    ) == (sum(l.nodes for l in layers) // len(layers))


@pytest.mark.parametrize(
    "params, shapes",
    [
        (MutationParams(function_preserving=True), {(1, 1)}),  # an identity needs only the centre tap
        (MutationParams(function_preserving=True, new_kernel_shape="3x3"), {(3, 3)}),  # the set shape wins
        (MutationParams(new_kernel_shape="5x3"), {(5, 3)}),
    ],
)
def test_a_new_conv_layer_and_an_initial_conv_layer_get_their_kernel_shapes_by_one_rule(params, shapes):
    g = Genome.minimal((1, 28, 28), 10)
    w = init_weights(g, np.random.default_rng(0))
    for seed in range(5):
        grown, _ = add_layer(g, w, np.random.default_rng(seed), params, layer_type="conv")
        initial = genome_from_layers("C6", (1, 28, 28), 10, np.random.default_rng(seed), params)
        assert set(grown.layers[0].kernels) == shapes and set(initial.layers[0].kernels) == shapes
