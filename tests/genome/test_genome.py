"""Genome structure, geometry, species key and JSON round trips (paper §III, §III-E)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings

from chains import networks
from ecosim.errors import GenomeError
from ecosim.genome import ConvLayer, DenseLayer, Genome, Weights, check_weights, init_weights
from ecosim.genome.genome import max_kernel_size


def test_minimal_genome_is_output_layer_on_input():
    g = Genome.minimal((1, 28, 28), 10)
    assert g.layers == (DenseLayer(10),)
    assert g.geometry()[0].in_features == 784
    assert g.parameter_count() == 7850
    assert g.species_key == ((), ())


def test_padding_is_half_the_largest_kernel_and_output_depends_only_on_stride():
    layer = ConvLayer(((1, 1), (3, 7), (5, 1)), (2, 3))
    assert layer.padding == (2, 3)
    assert layer.output_size((28, 28)) == (14, 10)
    assert ConvLayer(((1, 1),), (2, 3)).output_size((28, 28)) == (14, 10)


@pytest.mark.parametrize("kernels", [((2, 1),), ((1, 0),), ()])
def test_conv_layer_rejects_even_or_empty_kernels(kernels):
    with pytest.raises(GenomeError, match="ConvLayer"):
        ConvLayer(kernels)


def test_conv_after_dense_is_rejected():
    with pytest.raises(GenomeError, match="after a DenseLayer"):
        Genome((1, 8, 8), (DenseLayer(4), ConvLayer(((1, 1),)), DenseLayer(10)))


def test_species_key_counts_nodes_per_layer_not_shapes():
    a = Genome((1, 28, 28), (ConvLayer(((1, 1), (3, 3))), DenseLayer(5), DenseLayer(10)))
    b = Genome((1, 28, 28), (ConvLayer(((5, 3), (1, 1)), (2, 2)), DenseLayer(5), DenseLayer(10)))
    c = Genome((1, 28, 28), (ConvLayer(((1, 1),)), DenseLayer(5), DenseLayer(10)))
    assert a.species_key == b.species_key == ((2,), (5,))
    assert c.species_key != a.species_key


def test_max_kernel_size_is_odd_half_of_input():
    assert [max_kernel_size(n) for n in (1, 2, 3, 4, 6, 7, 28, 32)] == [1, 1, 1, 1, 3, 3, 13, 15]


def test_unknown_schema_version_is_rejected():
    d = Genome.minimal((1, 4, 4), 3).to_dict()
    d["schema_version"] = 99
    with pytest.raises(GenomeError, match="schema_version"):
        Genome.from_dict(d)


@settings(max_examples=60, deadline=None)
@given(networks())
def test_json_round_trip_is_exact(net):
    g, _ = net
    text = g.to_json()
    assert Genome.from_json(text) == g
    assert json.loads(text)["schema_version"] == 1


@settings(max_examples=40, deadline=None)
@given(networks())
def test_weight_arrays_round_trip_exactly(net):
    g, w = net
    back = Weights.from_arrays(g, w.to_arrays())
    for a, b in zip(w.arrays(), back.arrays()):
        assert a.dtype == b.dtype == np.float32
        assert np.array_equal(a, b)


def test_weights_of_the_wrong_shape_are_rejected():
    g = Genome.minimal((1, 4, 4), 3)
    other = Genome.minimal((1, 5, 4), 3)
    w = init_weights(other, np.random.default_rng(0))
    with pytest.raises(GenomeError, match="layer 0 node 0"):
        check_weights(g, w)


def test_init_weights_are_normal_with_std_0_1():
    g = Genome.minimal((1, 28, 28), 10)
    w = init_weights(g, np.random.default_rng(0))
    flat = np.concatenate([a.ravel() for a in w.arrays()])
    assert abs(flat.mean()) < 0.01 and abs(flat.std() - 0.1) < 0.005
