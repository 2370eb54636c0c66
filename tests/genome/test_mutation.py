"""Mutation operators (paper §III-D, §III-E): conformance over every kind, plus exact cases."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chains import grow, networks
from ecosim.errors import MutationRejected
from ecosim.genome import (
    OPERATORS,
    ConvLayer,
    DenseLayer,
    Genome,
    MutationKind,
    MutationParams,
    check_weights,
    constraint_violation,
    init_weights,
    mutate,
    new_layer_nodes,
    resize_targets,
)
from ecosim.genome import mutation as M
from ecosim.genome.compute import multiply_accumulates
from ecosim.genome.weights import LayerWeights, Weights, resample_area


def _snapshot(w):
    return [a.copy() for a in w.arrays()]


def _same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def _conv_net(seed=0):
    g = Genome(
        (1, 28, 28),
        (ConvLayer(((1, 1), (3, 3), (5, 3))), ConvLayer(((3, 3), (1, 1)), (2, 2)), DenseLayer(6), DenseLayer(10)),
    )
    return g, init_weights(g, np.random.default_rng(seed))


@pytest.mark.parametrize("kind", list(MutationKind))
@settings(max_examples=25, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_every_operator_keeps_constraints_and_never_touches_its_parent(kind, net, seed):
    g, w = net
    before = _snapshot(w)
    g_before = copy.deepcopy(g)
    try:
        child_g, child_w = OPERATORS[kind](g, w, np.random.default_rng(seed))
    except MutationRejected as exc:
        assert exc.kind == kind.value and exc.reason
        return
    check_weights(child_g, child_w)
    assert constraint_violation(child_g) is None
    for layer in child_g.conv_layers:
        assert all(a % 2 == 1 and b % 2 == 1 for a, b in layer.kernels)
    assert g == g_before
    assert all(_same(a, b) for a, b in zip(before, w.arrays()))
    for a in child_w.arrays():
        assert not any(np.shares_memory(a, b) for b in w.arrays())


@settings(max_examples=40, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_grow_and_shrink_kernel_touch_only_that_kernel_and_keep_its_centre(net, seed):
    g, w = net
    rng = np.random.default_rng(seed)
    for op in (M.grow_kernel, M.shrink_kernel):
        try:
            g2, w2 = op(g, w, rng)
        except MutationRejected:
            continue
        changed = [
            (i, j)
            for i, (a, b) in enumerate(zip(g.layers, g2.layers))
            if isinstance(a, ConvLayer)
            for j in range(a.nodes)
            if a.kernels[j] != b.kernels[j]
        ]
        assert len(changed) == 1
        i, j = changed[0]
        old, new = w.layers[i].nodes[j], w2.layers[i].nodes[j]
        small, big = (old, new) if op is M.grow_kernel else (new, old)
        t, l = (big.shape[1] - small.shape[1]) // 2, (big.shape[2] - small.shape[2]) // 2
        assert np.array_equal(big[:, t : t + small.shape[1], l : l + small.shape[2]], small)
        for li, (a, b) in enumerate(zip(w.layers, w2.layers)):
            for nj, (x, y) in enumerate(zip(a.nodes, b.nodes)):
                if (li, nj) != (i, j):
                    assert _same(x, y)
            assert _same(a.bias, b.bias)


def test_add_node_keeps_every_old_weight_and_adds_one_input_channel_downstream():
    g, w = _conv_net()
    g2, w2 = M.add_node(g, w, np.random.default_rng(1), layer=0)
    assert g2.layers[0].nodes == 4 and g2.layers[1] == g.layers[1]
    for a, b in zip(w.layers[0].nodes, w2.layers[0].nodes):
        assert _same(a, b)
    for a, b in zip(w.layers[1].nodes, w2.layers[1].nodes):
        assert b.shape[0] == a.shape[0] + 1 and np.array_equal(b[:-1], a)
    for li in (2, 3):
        assert all(_same(a, b) for a, b in zip(w.layers[li].nodes, w2.layers[li].nodes))


@settings(max_examples=40, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_nodes_per_mutation_adds_and_removes_that_many_nodes_of_one_layer_keeping_the_others(net, seed, n):
    """``mutation.nodes_per_mutation`` (issue 17, width): add_node appends ``n`` nodes to one layer,
    remove_node drops ``min(n, nodes − 1)`` of one layer; every other node keeps its weights and
    the next layer keeps the inputs of the nodes that stay, in order (Lamarckian)."""
    g, w = net
    # every node distinct (a chain of clones and crossovers can repeat one), so survivors are known by value
    w = Weights(
        tuple(
            LayerWeights(tuple(x + np.float32(1e-3 * (k + 1)) for k, x in enumerate(lw.nodes)), lw.bias)
            for lw in w.layers
        )
    )
    params = MutationParams(nodes_per_mutation=n)
    for op in (M.add_node, M.remove_node):
        try:
            g2, w2 = op(g, w, np.random.default_rng(seed), params)
        except MutationRejected:
            continue
        check_weights(g2, w2)
        changed = [i for i, (a, b) in enumerate(zip(g.layers, g2.layers)) if a.nodes != b.nodes]
        assert len(changed) == 1
        i = changed[0]
        before, after = g.layers[i].nodes, g2.layers[i].nodes
        assert after - before == (n if op is M.add_node else -min(n, before - 1))
        old, new = w.layers[i].nodes, w2.layers[i].nodes
        if op is M.add_node:  # the old nodes first, untouched; the next layer's old inputs too
            assert all(_same(a, b) for a, b in zip(old, new))
            kept = list(range(before))
        else:  # the survivors in order, untouched: the new nodes are a subsequence of the old
            kept, j = [], 0
            for b in new:
                while j < before and not _same(old[j], b):
                    j += 1
                assert j < before, "a node of the offspring is not one of the parent's"
                kept.append(j)
                j += 1
        for a, b in zip(w.layers[i + 1].nodes, w2.layers[i + 1].nodes):
            if a.shape[1:] == b.shape[1:]:  # spatial size unchanged (padding may change with a new kernel)
                assert np.array_equal(b[: len(kept)], a[kept])
        for li in range(len(g.layers)):
            if li not in (i, i + 1):
                assert all(_same(a, b) for a, b in zip(w.layers[li].nodes, w2.layers[li].nodes))


def test_nodes_per_mutation_of_one_draws_as_the_paper_and_is_checked():
    g, w = _conv_net()
    one = M.add_node(g, w, np.random.default_rng(4), MutationParams(nodes_per_mutation=1), layer=0)
    default = M.add_node(g, w, np.random.default_rng(4), layer=0)
    assert one[0] == default[0] and all(_same(a, b) for a, b in zip(one[1].arrays(), default[1].arrays()))
    g3, _ = M.remove_node(g, w, np.random.default_rng(0), MutationParams(nodes_per_mutation=5), layer=0)
    assert g3.layers[0].nodes == 1  # 3 nodes: at most all but one go
    for bad in (0, 1025, 10**23):  # a huge value hung the run drawing nodes (the helper's find)
        with pytest.raises(Exception, match=r"mutation.nodes_per_mutation.*in \[1, 1024\]"):
            MutationParams(nodes_per_mutation=bad)


def test_remove_node_drops_exactly_that_input_channel():
    g, w = _conv_net()
    g2, w2 = M.remove_node(g, w, np.random.default_rng(1), layer=0, node=1)
    assert g2.layers[0].kernels == ((1, 1), (5, 3))
    for a, b in zip(w.layers[1].nodes, w2.layers[1].nodes):
        assert np.array_equal(b, a[[0, 2]])
    assert _same(w2.layers[0].nodes[1], w.layers[0].nodes[2])


def test_stride_growth_resamples_first_dense_layer_conserving_channel_sums():
    g, w = _conv_net()
    g2, w2 = M.grow_stride(g, w, np.random.default_rng(3), layer=1, dim=0)
    assert g2.layers[1].stride == (3, 2)
    assert w2.layers[2].nodes[0].shape == (2, 10, 14)
    for a, b in zip(w.layers[2].nodes, w2.layers[2].nodes):
        np.testing.assert_allclose(a.sum(axis=(1, 2)), b.sum(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    for li in (0, 1, 3):
        assert all(_same(a, b) for a, b in zip(w.layers[li].nodes, w2.layers[li].nodes))


def test_stride_growth_on_every_layer_of_a_28x28_network_stays_valid_until_rejected():
    g, w = _conv_net()
    rng = np.random.default_rng(0)
    rejected = 0
    for _ in range(200):
        for layer in (0, 1):
            try:
                g, w = M.grow_stride(g, w, rng, layer=layer)
            except MutationRejected as exc:
                rejected += 1
                assert "stride" in exc.reason or "exceeds" in exc.reason
            check_weights(g, w)
            assert constraint_violation(g) is None
            assert min(g.geometry()[-2].in_size) >= 1
    assert rejected > 0


def test_kernel_cannot_grow_beyond_half_the_input():
    g = Genome((1, 6, 6), (ConvLayer(((3, 3),)), DenseLayer(2)))
    w = init_weights(g, np.random.default_rng(0))
    with pytest.raises(MutationRejected, match="bound") as info:
        M.grow_kernel(g, w, np.random.default_rng(0), layer=0, node=0)
    assert info.value.kind == "grow_kernel"


def test_output_layer_is_never_removed_or_resized():
    g = Genome.minimal((1, 8, 8), 3)
    w = init_weights(g, np.random.default_rng(0))
    for op in (M.remove_layer, M.add_node, M.remove_node):
        with pytest.raises(MutationRejected):
            op(g, w, np.random.default_rng(0))
    with pytest.raises(MutationRejected, match="cannot be removed"):
        M.remove_layer(*_conv_net(), np.random.default_rng(0), index=3)


def test_remove_dense_layer_collapses_linear_map_exactly():
    g = Genome((1, 3, 3), (DenseLayer(4), DenseLayer(2)))
    w = init_weights(g, np.random.default_rng(0))
    g2, w2 = M.remove_layer(g, w, np.random.default_rng(0), index=0)
    x = np.random.default_rng(1).normal(size=9)
    w_hidden = np.stack([n.ravel() for n in w.layers[0].nodes])
    w_out = np.stack([n.ravel() for n in w.layers[1].nodes])
    expected = w_out @ (w_hidden @ x + w.layers[0].bias) + w.layers[1].bias
    got = np.stack([n.ravel() for n in w2.layers[0].nodes]) @ x + w2.layers[0].bias
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_function_preserving_conv_layer_has_an_identity_for_every_input_channel_and_keeps_later_genes():
    g, w = _conv_net()
    params = MutationParams(function_preserving=True)
    g2, w2 = M.add_layer(g, w, np.random.default_rng(0), params, layer_type="conv", position=1)
    new = g2.layers[1]
    assert new.nodes == max(new_layer_nodes(g, params), 3) and new.stride == (1, 1)
    assert all(k == (1, 1) for k in new.kernels)
    for j in range(3):  # kernel j copies input channel j
        assert w2.layers[1].nodes[j][:, 0, 0].tolist() == [1.0 if c == j else 0.0 for c in range(3)]
    # the next conv layer keeps its 3 input channels bit for bit; the extra channels are zero
    for a, b in zip(w.layers[1].nodes, w2.layers[2].nodes):
        assert _same(b[:3], a) and not b[3:].any()
    for old, new_i in ((0, 0), (2, 3), (3, 4)):
        assert all(_same(a, b) for a, b in zip(w.layers[old].nodes, w2.layers[new_i].nodes))


# ---- new layers: one size rule for conv and FC (cause 1 of issue 7) ------------------------


def test_new_conv_and_fc_layers_on_the_minimal_genome_are_equally_wide():
    g = Genome.minimal((1, 28, 28), 10)
    w = init_weights(g, np.random.default_rng(0))
    conv, _ = M.add_layer(g, w, np.random.default_rng(0), layer_type="conv")
    dense, _ = M.add_layer(g, w, np.random.default_rng(0), layer_type="dense")
    # before: C1 (one kernel per input channel) against F64 (the next layer's input, capped)
    assert conv.layers[0].nodes == dense.layers[0].nodes == 10  # floor(mean nodes per layer)


@settings(max_examples=30, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1), share=st.sampled_from([0.0, 1.0]))
def test_new_layer_conv_share_decides_the_type_of_an_inserted_layer(net, seed, share):
    g, w = net
    params = MutationParams(new_layer_conv_share=share)
    try:
        child, _ = M.add_layer(g, w, np.random.default_rng(seed), params)
    except MutationRejected:  # a conv layer that cannot fit this input: never a dense one instead
        assert share == 1.0
        return
    assert (child.n_conv, len(child.hidden_layers)) == (
        (g.n_conv + 1, len(g.hidden_layers)) if share == 1.0 else (g.n_conv, len(g.hidden_layers) + 1)
    )


def test_the_default_conv_share_is_the_fair_coin_it_replaced():
    g = Genome.minimal((1, 28, 28), 10)
    w = init_weights(g, np.random.default_rng(0))
    convs = [M.add_layer(g, w, np.random.default_rng(s))[0].n_conv for s in range(200)]
    expected = [int(np.random.default_rng(s).random() < 0.5) for s in range(200)]
    assert convs == expected  # the same draw: runs with the default are unchanged


@pytest.mark.parametrize("layer_type", ["conv", "dense"])
@settings(max_examples=30, deadline=None)
@given(
    net=networks(),
    seed=st.integers(0, 2**32 - 1),
    lo=st.integers(1, 12),
    span=st.integers(0, 40),
    where=st.floats(0, 1),
)
def test_add_layer_sizes_by_the_rule_and_keeps_every_untouched_gene(layer_type, net, seed, lo, span, where):
    g, w = net
    params = MutationParams(new_layer_min_nodes=lo, new_layer_max_nodes=lo + span)
    n_same = g.n_conv if layer_type == "conv" else len(g.hidden_layers)
    position = int(where * n_same)
    new = position if layer_type == "conv" else g.n_conv + position
    g2, w2 = M.add_layer(g, w, np.random.default_rng(seed), params, layer_type=layer_type, position=position)
    check_weights(g2, w2)
    assert constraint_violation(g2) is None
    assert isinstance(g2.layers[new], ConvLayer if layer_type == "conv" else DenseLayer)
    assert g2.layers[new].nodes == new_layer_nodes(g, params)
    assert lo <= g2.layers[new].nodes <= lo + span
    first_fc = g2.n_conv
    for i in range(len(g.layers)):  # Lamarckian: every gene whose input did not change is bit-identical
        j = i if i < new else i + 1
        if j == new + 1:
            continue
        assert _same(w.layers[i].bias, w2.layers[j].bias)
        for a, b in zip(w.layers[i].nodes, w2.layers[j].nodes):
            # a strided new conv layer shrinks the map feeding the first FC layer (area-resampled)
            assert _same(a, b) or (j == first_fc and a.shape != b.shape)
    if layer_type == "conv" and new + 1 < len(g2.layers) and isinstance(g2.layers[new + 1], ConvLayer):
        keep = min(g2.layers[new].nodes, g.geometry()[new].in_channels)
        for a, b in zip(w.layers[new].nodes, w2.layers[new + 1].nodes):  # kept input channels by index
            assert _same(b[:keep], a[:keep])


# ---- feasible targets (cause 3 of issue 7; which kind: test_mutation_choice.py) ---------------


def _net(layers, shape=(1, 28, 28)):
    g = Genome(shape, layers)
    return g, init_weights(g, np.random.default_rng(0))


def test_grow_kernel_picks_only_kernels_that_can_grow():
    # kernels 0 and 2 are at 13×13 (the maximum on 28×28); only kernel 1 can grow
    g, w = _net((ConvLayer(((13, 13), (1, 1), (13, 13))), DenseLayer(10)))
    for seed in range(50):
        g2, _ = M.grow_kernel(g, w, np.random.default_rng(seed))
        assert g2.layers[0].kernels[0] == (13, 13) and g2.layers[0].kernels[2] == (13, 13)
        assert g2.layers[0].kernels[1] in ((3, 1), (1, 3))


def test_grow_stride_skips_layers_whose_growth_would_break_a_later_kernel():
    # layer 1's 3×3 kernel needs an input ≥ 6×6: layer 0's stride (5: ceil(28/5) = 6) cannot grow
    g, w = _net((ConvLayer(((1, 1),), (5, 5)), ConvLayer(((3, 3),)), DenseLayer(10)))
    targets = resize_targets(g, MutationKind.GROW_STRIDE)
    assert [t.layer for t in targets] == [1]
    for seed in range(20):
        g2, _ = M.grow_stride(g, w, np.random.default_rng(seed))
        assert g2.layers[0].stride == (5, 5) and constraint_violation(g2) is None


@settings(max_examples=40, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1))
def test_a_drawn_mutation_never_fails(net, seed):
    g, w = net
    rng = np.random.default_rng(seed)
    for _ in range(5):
        r = mutate(g, w, rng)
        assert r.ok, f"{r.kind}: {r.reason}"


def test_mutate_reports_failures_as_data():
    g = Genome((1, 2, 2), (ConvLayer(((1, 1),)), DenseLayer(2)))
    w = init_weights(g, np.random.default_rng(0))
    r = mutate(g, w, np.random.default_rng(0), kind=MutationKind.GROW_KERNEL)
    assert not r.ok and r.genome is None and "bound" in r.reason


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9))
def test_resample_area_conserves_channel_sums(c, h, w, h2, w2):
    a = np.random.default_rng(h * 100 + w).normal(size=(c, h, w)).astype(np.float32)
    b = resample_area(a, (h2, w2))
    assert b.shape == (c, h2, w2)
    np.testing.assert_allclose(a.sum(axis=(1, 2)), b.sum(axis=(1, 2)), rtol=1e-4, atol=1e-4)


def test_same_seed_gives_the_same_chain():
    a, b = grow(7, 30), grow(7, 30)
    assert a[0] == b[0]
    assert all(np.array_equal(x, y) for x, y in zip(a[1].arrays(), b[1].arrays()))


# ---- issue 17: the paper's resize dimension, a fixed new kernel shape ---------------------


@pytest.mark.parametrize("kind", [MutationKind.GROW_KERNEL, MutationKind.GROW_STRIDE])
def test_resize_dimension_is_uniform_over_the_feasible_dimensions(kind):
    """§III-E: "a randomly selected dimension". A 3×1 kernel grows to 5×1 or 3×3 about equally
    often (ecosim <= 0.2 drew the dimension by eq. 1 on the result: 5×1 in ~98% of draws)."""
    g = Genome((1, 28, 28), (ConvLayer(((3, 1),)), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    n, height = 400, 0
    for seed in range(n):
        cg, _ = OPERATORS[kind](g, w, np.random.default_rng(seed))
        changed = cg.layers[0].kernels[0] if kind is MutationKind.GROW_KERNEL else cg.layers[0].stride
        height += changed[0] > (3 if kind is MutationKind.GROW_KERNEL else 1)
    assert 0.42 < height / n < 0.58  # binomial(400, 0.5): 4 sd either side
    eq1 = MutationParams(resize_dimension="eq1")
    taller = sum(M.grow_kernel(g, w, np.random.default_rng(s), eq1)[0].layers[0].kernels[0] == (5, 1) for s in range(n))
    assert taller / n > 0.9  # the former rule, kept as an option, elongates


def test_new_kernel_shape_starts_every_new_kernel_at_that_shape_clipped_to_the_input():
    g = Genome((1, 12, 12), (ConvLayer(((1, 1),) * 3), DenseLayer(10)))
    w = init_weights(g, np.random.default_rng(0))
    params = MutationParams(new_kernel_shape="7x3")
    cg, _ = M.add_layer(g, w, np.random.default_rng(0), params, layer_type="conv", position=1)
    assert set(cg.layers[1].kernels) == {(5, 3)}  # 7 > half of 12: clipped to 5
    cg, _ = M.add_node(g, w, np.random.default_rng(0), params, layer=0)
    assert cg.layers[0].kernels[-1] == (5, 3)
    fp = MutationParams(new_kernel_shape="3x3", function_preserving=True)
    cg, cw = M.add_layer(g, w, np.random.default_rng(0), fp, layer_type="conv", position=0)
    assert set(cg.layers[0].kernels) == {(3, 3)}
    assert cw.layers[0].nodes[0][0].tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]  # identity at the centre tap
    assert cw.layers[0].nodes[1][0].tolist() == [[0, 0, 0], [0, -1, 0], [0, 0, 0]]  # its negative twin


# ---- issue 17: a cost cap (mutation.max_macs) ---------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(net=networks(), seed=st.integers(0, 2**32 - 1), cap=st.sampled_from([1e3, 2e4, 1e5, 1e6]))
def test_a_capped_mutation_never_makes_an_offspring_costlier_than_the_cap_and_its_parent(net, seed, cap):
    g, w = net
    params = MutationParams(max_macs=cap, family_weights="layer=1,node=1,kernel=1,stride=1")
    own = multiply_accumulates(g)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        r = mutate(g, w, rng, params)
        if r.ok:
            assert multiply_accumulates(r.genome) <= max(cap, own)
            check_weights(r.genome, r.weights)
        else:
            assert "mutation.max_macs" in r.reason


def test_the_cap_binds_and_an_uncapped_run_draws_as_before():
    g, w = _conv_net()  # about 0.06 M multiply-accumulates per image
    own = multiply_accumulates(g)
    growth = MutationParams(family_weights="add_layer=1,add_node=1,grow_kernel=1")
    free = [mutate(g, w, np.random.default_rng(s), growth) for s in range(40)]
    assert sum(multiply_accumulates(r.genome) > own for r in free) > 20  # growth grows the cost
    at_own = MutationParams(**{**growth.__dict__, "max_macs": own})
    capped = [mutate(g, w, np.random.default_rng(s), at_own) for s in range(40)]
    assert all(multiply_accumulates(r.genome) <= own for r in capped if r.ok)  # e.g. a new strided layer
    assert sum(not r.ok and "over mutation.max_macs" in r.reason for r in capped) > 20
    assert all(r.over_cap == ("over mutation.max_macs" in r.reason) for r in capped)
    assert all(r.cap_redraws == M.MAX_DRAWS for r in capped if r.over_cap) and all(r.cap_redraws == 0 for r in free)
    assert any(r.ok and r.cap_redraws > 0 for r in capped)  # a later draw passed after discarded ones
    # a cap that never binds consumes the stream exactly as no cap
    loose = MutationParams(**{**growth.__dict__, "max_macs": 1e12})
    for s in range(10):
        a, b = mutate(g, w, np.random.default_rng(s), growth), mutate(g, w, np.random.default_rng(s), loose)
        assert a.kind == b.kind and a.genome == b.genome


def test_a_rising_cap_is_the_fixed_cap_of_its_generation():
    """``mutation.max_macs_doubling``: at generation g a mutation is capped exactly as under a fixed
    cap of ``max_macs · 2^(g / doubling)`` (same stream, same offspring), so the cap that binds at
    generation 0 lets the same draw through once it has doubled."""
    g, w = _conv_net()
    own = multiply_accumulates(g)
    growth = dict(family_weights="add_layer=1,add_node=1,grow_kernel=1")
    rising = MutationParams(**growth, max_macs=own, max_macs_doubling=10)
    assert rising.cap(0) == own and rising.cap(10) == 2 * own and rising.cap(-3) == own
    tiny = MutationParams(**growth, max_macs=own, max_macs_doubling=0.001)  # 10^5 doublings by generation 100
    assert tiny.cap(100) == float("inf") and mutate(g, w, np.random.default_rng(0), tiny, generation=100).ok
    for gen in (0, 5, 10, 30):
        fixed = MutationParams(**growth, max_macs=own * 2 ** (gen / 10))
        for s in range(12):
            a = mutate(g, w, np.random.default_rng(s), rising, generation=gen)
            b = mutate(g, w, np.random.default_rng(s), fixed)
            assert (a.ok, a.kind, a.genome) == (b.ok, b.kind, b.genome)
            if a.ok:
                assert multiply_accumulates(a.genome) <= max(own, rising.cap(gen))
    early = [mutate(g, w, np.random.default_rng(s), rising, generation=0) for s in range(30)]
    late = [mutate(g, w, np.random.default_rng(s), rising, generation=30) for s in range(30)]
    grown = lambda rs: sum(r.ok and multiply_accumulates(r.genome) > own for r in rs)  # noqa: E731
    assert grown(early) == 0 and grown(late) > 10
