"""Initial species (paper §III-A, eq. 1) and initial layers given as text."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecosim.errors import GenomeError
from ecosim.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    MutationKind,
    MutationParams,
    check_weights,
    constraint_violation,
    genome_from_layers,
    initial_species_genomes,
    isolated_network,
)
from strategies import genomes

MNIST = (1, 28, 28)


@settings(max_examples=20, deadline=None)
@given(
    shape=st.sampled_from([MNIST, (3, 32, 32), (1, 5, 7)]),
    count=st.integers(1, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_initial_species_contract(shape, count, seed):
    minimal = Genome.minimal(shape, 10)
    species = initial_species_genomes(minimal, count, np.random.default_rng(seed))
    assert len(species) == count and species[0][0] is minimal
    keys = [g.species_key for g, _ in species]
    assert len(set(keys)) == count
    for g, w in species:
        check_weights(g, w)
        assert constraint_violation(g) is None
    again = initial_species_genomes(minimal, count, np.random.default_rng(seed))
    assert [g for g, _ in again] == [g for g, _ in species]
    assert all(
        np.array_equal(a, b) for (_, w1), (_, w2) in zip(species, again) for a, b in zip(w1.arrays(), w2.arrays())
    )


def test_initial_kernels_and_strides_follow_eq_1():
    # before: every kind drawn, ~96% kernel mutations: mean kernel area 21.6 and 39% 1×1 over 10 seeds
    areas, strides = [], []
    for seed in range(10):
        for g, _ in initial_species_genomes(Genome.minimal(MNIST, 10), 8, np.random.default_rng(seed)):
            for layer in g.conv_layers:
                areas.extend(h * w for h, w in layer.kernels)
                strides.append(layer.stride)
    areas_a = np.array(areas)
    assert len(areas_a) > 100
    assert areas_a.mean() < 2.5  # eq. 1 alone: ≈ 1.6
    assert (areas_a == 1).mean() > 0.65  # eq. 1 alone: ≈ 0.76
    assert max(areas) <= 9


def test_initial_species_start_from_the_given_layers():
    start = genome_from_layers("C10[3x3]", MNIST, 10, np.random.default_rng(0))
    species = initial_species_genomes(start, 4, np.random.default_rng(1))
    assert species[0][0] is start
    assert {g.species_key for g, _ in species[1:]}.isdisjoint({start.species_key})


def test_initial_species_errors():
    with pytest.raises(ValueError, match="count"):
        initial_species_genomes(Genome.minimal(MNIST, 10), 0, np.random.default_rng(0))
    with pytest.raises(GenomeError, match="no new species key within 0"):
        initial_species_genomes(Genome.minimal(MNIST, 10), 2, np.random.default_rng(0), max_steps=0)


def test_a_walk_whose_every_mutation_is_rejected_gives_up_at_once_naming_the_reason():
    """A cost cap that every growth of the minimal genome exceeds (the helper's ``--max-macs 1 --max-macs-doubling
    10``, session 42) rejected 10,000 × 16 draws: minutes before any word."""
    capped = MutationParams(max_macs=1, max_macs_doubling=10)
    with pytest.raises(GenomeError, match=r"64 mutations in a row of F10 were rejected .*over mutation.max_macs = 1"):
        initial_species_genomes(Genome.minimal(MNIST, 10), 2, np.random.default_rng(0), capped)
    species = initial_species_genomes(
        Genome.minimal(MNIST, 10), 3, np.random.default_rng(0), MutationParams(max_macs=8e3)
    )
    assert len({g.species_key for g, _ in species}) == 3  # a cap that some growth fits founds them


@pytest.mark.parametrize("seed", range(5))
def test_isolated_network_is_the_minimal_genome_plus_one_new_layer(seed):
    g, w, kind = isolated_network(Genome.minimal(MNIST, 10), np.random.default_rng(seed))
    assert kind is MutationKind.ADD_LAYER and len(g.layers) == 2 and g.layers[0].nodes == 10
    check_weights(g, w)


# ---- genome_from_layers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, key, first",
    [
        ("", ((), ()), DenseLayer(10)),
        ("none", ((), ()), DenseLayer(10)),
        ("C10", ((10,), ()), None),
        ("C10-F64", ((10,), (64,)), None),
        ("F64-F32", ((), (64, 32)), DenseLayer(64)),
        ("C10s2[3x3]-F32", ((10,), (32,)), ConvLayer(((3, 3),) * 10, (2, 2))),
        ("c2s2x1[3x3,1x5]", ((2,), ()), ConvLayer(((3, 3), (1, 5)), (2, 1))),
        (" C4[1x1] - C8s1x1[5x5] - F16 ", ((4, 8), (16,)), ConvLayer(((1, 1),) * 4)),
    ],
)
def test_genome_from_layers_parses_the_summary_notation(spec, key, first):
    g = genome_from_layers(spec, MNIST, 10, np.random.default_rng(0))
    assert g.species_key == key and g.classes == 10 and constraint_violation(g) is None
    if first is not None:
        assert g.layers[0] == first
    if spec == "C10":  # no stride given: 1×1
        assert g.layers[0].stride == (1, 1)


def test_open_kernel_shapes_are_drawn_by_eq_1_or_1x1_when_function_preserving():
    g = genome_from_layers("C200", MNIST, 10, np.random.default_rng(0))
    assert 0.6 < np.mean([k == (1, 1) for k in g.layers[0].kernels]) < 0.9
    g = genome_from_layers("C20", MNIST, 10, np.random.default_rng(0), MutationParams(function_preserving=True))
    assert set(g.layers[0].kernels) == {(1, 1)}


@settings(max_examples=40, deadline=None)
@given(genome=genomes())
def test_summary_without_the_output_layer_round_trips(genome):
    spec = genome.summary().rsplit("-", 1)[0] if len(genome.layers) > 1 else ""
    assert genome_from_layers(spec, genome.input_shape, genome.classes, np.random.default_rng(0)) == genome


@pytest.mark.parametrize(
    "spec, token, why",
    [
        ("C10-X3", "layer 2 \\(X3\\): ", "expected 'F<n>' or 'C<n>"),
        ("F64-C10", "layer 2 \\(C10\\): ", "a conv layer cannot follow an FC layer"),
        ("C0", "", "a conv layer needs 1 to 4096 kernels"),
        ("F0", "", "an FC layer needs 1 to 4096 neurons"),
        ("C10[2x3]", "", "kernel 2x3 must be odd"),
        ("C3[3x3,1x1]", "", "2 kernel shapes for 3 kernels"),
        ("C1[15x15]", "", "kernel 15x15 exceeds the largest allowed 13x13"),
        ("C1s29", "", "stride 29x29 exceeds the largest allowed 28x28 on input \\(28, 28\\)"),
        ("C1s0", "", "stride 0x0 must be ≥ 1"),
        ("C1s14-C1[9x9]", "layer 2 \\(C1\\[9x9\\]\\): ", "kernel 9x9 exceeds the largest allowed 1x1"),
        ("C1[3by3]", "", "kernel '3by3' must be '<h>x<w>'"),
        ("C10--F3", "layer 2 \\(\\): ", "expected"),
    ],
)
def test_genome_from_layers_names_the_bad_layer_once(spec, token, why):
    with pytest.raises(GenomeError, match=f"^{token}{why}") as info:
        genome_from_layers(spec, MNIST, 10, np.random.default_rng(0))
    assert str(info.value).count(spec) <= 1  # the caller adds the whole value, once
