"""Which mutation to apply (paper §III-D, §III-E, eqs. 3–6): feasible targets and the kinds' weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chains import networks
from ecosim.errors import MutationRejected
from ecosim.genome import (
    OPERATORS,
    SPECIES_KINDS,
    ConvLayer,
    DenseLayer,
    Genome,
    MutationKind,
    MutationParams,
    grow_kernel,
    has_target,
    init_weights,
    mutate,
    mutation_weights,
    resize_targets,
)


def _net(layers, shape=(1, 28, 28)):
    g = Genome(shape, layers)
    return g, init_weights(g, np.random.default_rng(0))


def _conv_net(seed=0):
    g = Genome(
        (1, 28, 28),
        (ConvLayer(((1, 1), (3, 3), (5, 3))), ConvLayer(((3, 3), (1, 1)), (2, 2)), DenseLayer(6), DenseLayer(10)),
    )
    return g, init_weights(g, np.random.default_rng(seed))


# ---- feasible targets (cause 3 of issue 7) ------------------------------------------------


def test_on_a_4x4_map_no_kernel_can_grow_so_grow_kernel_is_never_drawn():
    g, w = _net((ConvLayer(((1, 1),) * 3), DenseLayer(10)), (1, 4, 4))
    assert not has_target(g, MutationKind.GROW_KERNEL) and not has_target(g, MutationKind.SHRINK_KERNEL)
    p = mutation_weights(g)
    assert p[MutationKind.GROW_KERNEL] == 0 and p[MutationKind.SHRINK_KERNEL] == 0
    rng = np.random.default_rng(0)
    for _ in range(300):
        r = mutate(g, w, rng)
        assert r.ok, r.reason  # before: 1213 of 1630 grow_kernel draws failed on such a genome
        assert r.kind not in (MutationKind.GROW_KERNEL, MutationKind.SHRINK_KERNEL)


def test_with_every_kernel_at_its_maximum_grow_kernel_has_weight_zero():
    g, w = _net((ConvLayer(((13, 13),) * 4), DenseLayer(10)))
    assert resize_targets(g, MutationKind.GROW_KERNEL) == []
    assert mutation_weights(g)[MutationKind.GROW_KERNEL] == 0
    assert mutation_weights(g)[MutationKind.SHRINK_KERNEL] > 0
    with pytest.raises(MutationRejected, match="bound"):
        grow_kernel(g, w, np.random.default_rng(0))


@pytest.mark.parametrize("kind", list(MutationKind))
@settings(max_examples=25, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_a_kind_has_a_target_exactly_when_its_operator_succeeds(kind, net, seed):
    g, w = net
    try:
        OPERATORS[kind](g, w, np.random.default_rng(seed))
        ok = True
    except MutationRejected:
        ok = False
    assert ok == has_target(g, kind)
    assert (mutation_weights(g)[kind] > 0) == has_target(g, kind)


# ---- the kinds' weights: eqs. 3–6, fixed family weights (issue 17) -------------------------


def test_kinds_restricts_the_draw_and_renormalises():
    g, _ = _conv_net()
    p = mutation_weights(g, SPECIES_KINDS)
    assert set(k for k, v in p.items() if v > 0) == set(SPECIES_KINDS)
    assert sum(p.values()) == pytest.approx(1.0)
    full = mutation_weights(g)
    ratio = full[MutationKind.ADD_NODE] / full[MutationKind.ADD_LAYER]
    assert p[MutationKind.ADD_NODE] / p[MutationKind.ADD_LAYER] == pytest.approx(ratio)
    with pytest.raises(ValueError, match="feasible"):
        mutation_weights(Genome.minimal((1, 8, 8), 3), [MutationKind.GROW_KERNEL])


def test_mutation_weights_follow_eqs_3_to_6():
    g, _ = _conv_net()
    p = mutation_weights(g)
    assert abs(sum(p.values()) - 1) < 1e-12 and all(v >= 0 for v in p.values())
    geos = g.geometry()
    conns = [1 * 1, 1 * 9, 1 * 15, 3 * 9, 3 * 1] + [2 * 14 * 14] * 6 + [6] * 10
    mu_c = np.mean(conns)
    counts = [3, 2, 6, 10]
    p_layer = 1 / (mu_c * (np.mean(counts) + np.std(counts)))
    p_node = 1 / mu_c
    p_stride = 1 / (2 * np.mean([3 * 28 * 28, 2 * 14 * 14]))
    p_kernel = 1 / (np.mean([3, 2]) * np.mean([1, 9, 15, 9, 1]))
    assert geos[2].in_features == 2 * 14 * 14
    raw = {"add_layer": p_layer / 2, "add_node": p_node / 2, "grow_stride": p_stride / 2, "grow_kernel": p_kernel / 2}
    total = p_layer + p_node + p_stride + p_kernel
    for k, v in raw.items():
        assert p[MutationKind(k)] == pytest.approx(v / total)


def test_minimal_genome_can_only_add_a_layer():
    p = mutation_weights(Genome.minimal((1, 28, 28), 10))
    assert p[MutationKind.ADD_LAYER] == 1.0


def test_family_weights_fix_each_family_share_whatever_the_network_size():
    """Eqs. 3–6 give add_layer ~0.05% for a conv champion feeding a wide FC layer; fixed family
    weights keep it at its share (issue 17 B)."""
    g = Genome((1, 28, 28), (ConvLayer(((1, 1),) * 10), DenseLayer(10)))
    paper = mutation_weights(g)
    assert paper[MutationKind.ADD_LAYER] < 0.001
    params = MutationParams(family_weights="layer=1,node=1,kernel=1,stride=1")
    p = mutation_weights(g, params=params)
    assert p[MutationKind.ADD_LAYER] == pytest.approx(1 / 8) and p[MutationKind.REMOVE_LAYER] == pytest.approx(1 / 8)
    # every kernel is 1x1: shrink_kernel is infeasible, so grow_kernel takes the family's whole share
    assert p[MutationKind.SHRINK_KERNEL] == 0 and p[MutationKind.GROW_KERNEL] == pytest.approx(1 / 4)
    kinds = mutation_weights(g, params=MutationParams(family_weights="add_layer=3,remove_layer=1,grow_kernel=4"))
    assert (kinds[MutationKind.ADD_LAYER], kinds[MutationKind.REMOVE_LAYER], kinds[MutationKind.GROW_KERNEL]) == (
        pytest.approx(3 / 8),
        pytest.approx(1 / 8),
        pytest.approx(4 / 8),
    )
    only_layers = mutation_weights(g, params=MutationParams(family_weights="layer=1"))
    assert only_layers[MutationKind.ADD_LAYER] == pytest.approx(0.5)
    assert mutate(
        g, init_weights(g, np.random.default_rng(0)), np.random.default_rng(0), MutationParams(family_weights="layer=1")
    ).kind in (
        MutationKind.ADD_LAYER,
        MutationKind.REMOVE_LAYER,
    )


def test_fixed_weights_with_no_feasible_kind_fall_back_to_eqs_3_to_6():
    """``--family-weights kernel=1`` on the minimal genome (no conv layer): the run must go on
    (it crashed the initial species before), so eqs. 3-6 decide for that genome."""
    g = Genome.minimal((1, 28, 28), 10)
    params = MutationParams(family_weights="kernel=1")
    assert mutation_weights(g, params=params) == mutation_weights(g)
    assert mutation_weights(g, SPECIES_KINDS, params)[MutationKind.ADD_LAYER] == 1.0
    res = mutate(g, init_weights(g, np.random.default_rng(0)), np.random.default_rng(0), params)
    assert res.ok and res.kind is MutationKind.ADD_LAYER
