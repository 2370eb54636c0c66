"""Tests of ecosim.phenotype: mixed-shape conv (§III-E), phenotype build/extract, serialisation."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ecosim.errors import CheckpointError, GenomeError
from ecosim.genome.genome import ConvLayer, DenseLayer, Genome
from ecosim.genome.weights import Weights, init_weights
from ecosim.phenotype import (
    ACTIVATIONS,
    MixedConv2d,
    Phenotype,
    build_phenotype,
    extract_weights,
    kernel_groups,
    kernel_mask,
)
from ecosim.store.networks import load_network, save_network
from strategies import genomes

FAST = settings(max_examples=25, deadline=None)
MIXED = [(1, 1), (3, 3), (5, 5), (3, 1), (1, 5), (5, 3), (3, 3)]
GENOME = Genome(
    (2, 12, 10),
    (
        ConvLayer(((1, 1), (3, 5), (5, 3), (3, 3), (5, 5)), (1, 1)),
        ConvLayer(((3, 1), (1, 1), (3, 3)), (2, 1)),
        DenseLayer(7),
        DenseLayer(4),
    ),
)

odd = st.integers(0, 3).map(lambda k: 2 * k + 1)
kernel_lists = st.lists(st.tuples(odd, odd), min_size=1, max_size=6)


def _assert_weights_identical(a: Weights, b: Weights) -> None:
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.arrays(), b.arrays()):
        assert x.dtype == y.dtype == np.float32
        assert x.shape == y.shape
        assert x.tobytes() == y.tobytes()  # bit-identical, -0.0 included


def _poison_masked(conv: MixedConv2d, seed: int = 1) -> None:
    """Write large random values into the masked (out-of-shape) tiles of ``conv.weight``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        noise = torch.randn(conv.weight.shape, generator=g) * 10
        conv.weight.copy_(torch.where(conv.mask.bool(), conv.weight, noise))


def _rezeroed(net: torch.nn.Module) -> torch.nn.Module:
    clone = copy.deepcopy(net)
    for m in clone.modules():
        if isinstance(m, MixedConv2d):
            with torch.no_grad():
                m.weight.mul_(m.mask)
    return clone


# ---- MixedConv2d -------------------------------------------------------------------------------


@FAST
@given(
    kernels=kernel_lists,
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    sh=st.integers(1, 5),
    sw=st.integers(1, 5),
    mode=st.sampled_from(["dense", "grouped"]),
)
def test_mixed_conv_output_size_is_ceil_of_input_over_stride(kernels, h, w, sh, sw, mode):
    conv = MixedConv2d(2, kernels, (sh, sw), mode=mode)
    out = conv(torch.randn(3, 2, h, w))
    assert out.shape == (3, len(kernels), math.ceil(h / sh), math.ceil(w / sw))
    assert conv.output_size((h, w)) == tuple(out.shape[2:])


@FAST
@given(
    kernels=kernel_lists,
    h=st.integers(1, 11),
    w=st.integers(1, 11),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
)
def test_mixed_conv_matches_one_conv_per_kernel_with_its_own_padding(kernels, h, w, sh, sw):
    # the centred stacked layout aligns every kernel exactly as its own conv with padding (h//2, w//2)
    conv = MixedConv2d(3, kernels, (sh, sw), mode="dense")
    x = torch.randn(2, 3, h, w)
    refs = []
    for j, (kh, kw) in enumerate(conv.kernels):
        top, left = (conv.kernel_size[0] - kh) // 2, (conv.kernel_size[1] - kw) // 2
        k = conv.weight[j : j + 1, :, top : top + kh, left : left + kw]
        refs.append(F.conv2d(x, k, conv.bias[j : j + 1], (sh, sw), (kh // 2, kw // 2)))
    torch.testing.assert_close(conv(x), torch.cat(refs, 1), rtol=1e-5, atol=1e-5)


@FAST
@given(kernels=kernel_lists, sh=st.integers(1, 3), sw=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_dense_and_grouped_give_same_outputs_and_in_shape_gradients(kernels, sh, sw, seed):
    torch.manual_seed(seed)
    dense = MixedConv2d(3, kernels, (sh, sw), mode="dense")
    grouped = MixedConv2d(3, kernels, (sh, sw), mode="grouped")
    grouped.load_state_dict(dense.state_dict())
    x1 = torch.randn(2, 3, 9, 8, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = dense(x1), grouped(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(dense.weight.grad * dense.mask, grouped.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(dense.bias.grad, grouped.bias.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-4)
    for conv in (dense, grouped):  # masked tiles: exactly zero gradient in both modes
        assert torch.all(conv.weight.grad[(conv.mask == 0).expand_as(conv.weight)] == 0)


@pytest.mark.parametrize("mode", ["dense", "grouped"])
def test_masked_tiles_have_zero_effective_weight_and_zero_gradient(mode):
    conv = MixedConv2d(4, MIXED, stride=(2, 1), mode=mode)
    _poison_masked(conv)
    masked = (conv.mask == 0).expand_as(conv.weight)
    assert masked.any()
    assert torch.all(conv.effective_weight()[masked] == 0)
    assert torch.all(conv.weight[masked] != 0)
    conv(torch.randn(3, 4, 11, 11)).square().sum().backward()
    assert torch.all(conv.weight.grad[masked] == 0)
    assert torch.any(conv.weight.grad[~masked] != 0)


@pytest.mark.parametrize("mode", ["dense", "grouped"])
@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1),
        lambda p: torch.optim.Adadelta(p, lr=1.0, weight_decay=0.1),
    ],
    ids=["sgd_momentum_wd", "adam_wd", "adadelta_wd"],
)
def test_masked_tiles_never_leak_through_optimiser_steps(mode, make_opt):
    weights = init_weights(GENOME, np.random.default_rng(3))
    net = build_phenotype(GENOME, weights, conv_mode=mode)
    for conv in net.conv_layers:
        _poison_masked(conv)
    opt = make_opt(net.parameters())
    x, y = torch.randn(6, *GENOME.input_shape), torch.randint(0, GENOME.classes, (6,))
    before = [c.weight.detach().clone() for c in net.conv_layers]
    for _ in range(3):
        opt.zero_grad()
        F.nll_loss(net(x), y).backward()
        for conv in net.conv_layers:
            assert torch.all(conv.weight.grad[(conv.mask == 0).expand_as(conv.weight)] == 0)
        opt.step()
    # weight decay moved the stored masked tiles ...
    for conv, old in zip(net.conv_layers, before):
        masked = (conv.mask == 0).expand_as(conv.weight)
        assert not torch.equal(conv.weight[masked], old[masked])
    # ... yet they never reach the output
    assert torch.equal(net(x), _rezeroed(net)(x))
    # and extraction never reads them
    _assert_weights_identical(extract_weights(net), extract_weights(_rezeroed(net)))


def test_kernel_mask_and_groups_describe_the_centred_layout():
    mask = kernel_mask([(1, 3), (3, 1)])
    assert mask.shape == (2, 1, 3, 3)
    assert mask[0, 0].tolist() == [[0, 0, 0], [1, 1, 1], [0, 0, 0]]
    assert mask[1, 0].tolist() == [[0, 1, 0], [0, 1, 0], [0, 1, 0]]
    groups, order, inverse = kernel_groups([(3, 3), (1, 1), (3, 3), (1, 5)])
    assert groups == ((3, 3, 0, 2), (1, 1, 2, 3), (1, 5, 3, 4))
    assert torch.equal(order[inverse], torch.arange(4))


def test_auto_mode_runs_dense_until_a_layout_sets_it():
    skewed = [(1, 1)] * 31 + [(13, 13)]
    conv = MixedConv2d(2, skewed)
    assert conv.resolved_mode == "dense" and "mode='auto' (dense)" in repr(conv)
    x = torch.randn(3, 2, 9, 9)
    dense = conv(x)
    conv.resolved_mode = "grouped"  # what ecosim.phenotype.layout.apply_layout does
    with torch.inference_mode():
        # the same function; bit for bit on most CPUs, 1 ulp apart on others (session 35's AMD
        # EPYC), which is why a layout must be measured bit-identical on its machine to be used
        torch.testing.assert_close(conv(x), dense, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "fast"}, "mode must be one of 'auto', 'dense', 'grouped'"),
        ({"kernels": []}, "kernels"),
        ({"kernels": [(3, 2)]}, r"kernels\[0\]"),
        ({"stride": 0}, "stride"),
        ({"in_channels": 0}, "in_channels"),
    ],
)
def test_mixed_conv_rejects_invalid_arguments_naming_them(kwargs, match):
    args = {"in_channels": 2, "kernels": [(3, 3)], **kwargs}
    with pytest.raises(ValueError, match=match):
        MixedConv2d(**args)


# ---- Phenotype -------------------------------------------------------------------------------


@FAST
@given(genome=genomes(), seed=st.integers(0, 2**16), activation=st.sampled_from(sorted(ACTIVATIONS)))
def test_forward_gives_finite_log_probabilities(genome, seed, activation):
    net = Phenotype(genome, activation=activation, rng=np.random.default_rng(seed))
    out = net(torch.randn(3, *genome.input_shape))
    assert out.shape == (3, genome.classes)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))


@FAST
@given(genome=genomes(), seed=st.integers(0, 2**16), mode=st.sampled_from(["auto", "dense", "grouped"]))
def test_extract_after_build_is_bit_identical(genome, seed, mode):
    weights = init_weights(genome, np.random.default_rng(seed))
    net = build_phenotype(genome, weights, conv_mode=mode)
    back = extract_weights(net)
    _assert_weights_identical(back, weights)
    for a, b in zip(back.arrays(), weights.arrays()):
        assert not np.shares_memory(a, b)
    # the module holds copies: changing the inputs or the outputs leaves it alone
    for a in list(weights.arrays()) + list(back.arrays()):
        a += 1.0
    _assert_weights_identical(extract_weights(net), init_weights(genome, np.random.default_rng(seed)))


@settings(max_examples=10, deadline=None)
@given(genome=genomes(min_conv=1), seed=st.integers(0, 2**16))
def test_phenotype_dense_and_grouped_agree(genome, seed):
    weights = init_weights(genome, np.random.default_rng(seed))
    x = torch.randn(2, *genome.input_shape)
    a = build_phenotype(genome, weights, conv_mode="dense")(x)
    b = build_phenotype(genome, weights, conv_mode="grouped")(x)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_forward_matches_gene_layout_computed_by_hand():
    # conv genes centred with their own padding, channel-major flatten, FC rows = flattened genes
    genome = Genome((2, 7, 9), (ConvLayer(((3, 1), (1, 3), (3, 3)), (2, 3)), DenseLayer(5), DenseLayer(3)))
    weights = init_weights(genome, np.random.default_rng(0))
    net = build_phenotype(genome, weights, activation="tanh")
    x = torch.randn(4, 2, 7, 9)
    conv_w = weights.layers[0]
    maps = [
        F.conv2d(
            x,
            torch.tensor(node)[None],
            torch.tensor(conv_w.bias[j : j + 1]),
            (2, 3),
            (node.shape[1] // 2, node.shape[2] // 2),
        )
        for j, node in enumerate(conv_w.nodes)
    ]
    h = torch.tanh(torch.cat(maps, 1))
    assert h.shape == (4, 3, 4, 3)
    for lw, act in ((weights.layers[1], torch.tanh), (weights.layers[2], lambda t: t)):
        rows = torch.tensor(np.stack([n.reshape(-1) for n in lw.nodes]))
        h = act(h.flatten(1) @ rows.T + torch.tensor(lw.bias))
    torch.testing.assert_close(net(x), F.log_softmax(h, 1), rtol=1e-5, atol=1e-5)


def test_phenotype_keeps_genome_and_shows_its_summary():
    net = Phenotype(GENOME, rng=np.random.default_rng(0), activation="gelu")
    assert net.genome is GENOME
    text = repr(net)
    assert GENOME.summary() in text and "gelu" in text
    assert [type(m) for m in net.layers] == [
        MixedConv2d,
        MixedConv2d,
        torch.nn.Linear,
        torch.nn.Linear,
    ]


def test_building_leaves_torch_global_rng_untouched():
    state = torch.get_rng_state()
    Phenotype(GENOME, rng=np.random.default_rng(0))
    assert torch.equal(state, torch.get_rng_state())


def test_phenotype_rejects_bad_arguments():
    with pytest.raises(ValueError, match="relu.*tanh.*sigmoid.*elu.*leaky_relu.*gelu"):
        Phenotype(GENOME, rng=np.random.default_rng(0), activation="swish")
    with pytest.raises(ValueError, match="conv_mode must be one of 'auto', 'dense', 'grouped'"):
        Phenotype(GENOME, rng=np.random.default_rng(0), conv_mode="sparse")
    with pytest.raises(ValueError, match="weights or rng"):
        Phenotype(GENOME)
    with pytest.raises(GenomeError):
        Phenotype(GENOME, init_weights(Genome.minimal((2, 12, 10), 4), np.random.default_rng(0)))
    with pytest.raises(ValueError, match="input must have shape"):
        Phenotype(GENOME, rng=np.random.default_rng(0))(torch.zeros(1, 2, 12, 11))


# ---- serialisation ---------------------------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(genome=genomes(), seed=st.integers(0, 2**16))
def test_save_load_round_trip_is_bit_identical(tmp_path_factory, genome, seed):
    folder = tmp_path_factory.mktemp("net")
    weights = init_weights(genome, np.random.default_rng(seed))
    meta = {"fitness": 0.25, "generation": 3, "tags": ["a", "b"]}
    path = save_network(folder / "net.safetensors", genome, weights, meta)
    assert sorted(p.name for p in folder.iterdir()) == ["net.safetensors"]  # temp file replaced
    genome2, weights2, meta2 = load_network(path)
    assert genome2 == genome and meta2 == meta
    _assert_weights_identical(weights2, weights)


def test_save_overwrites_atomically_and_defaults_metadata(tmp_path):
    path = tmp_path / "n.safetensors"
    save_network(path, GENOME, init_weights(GENOME, np.random.default_rng(0)), {"v": 1})
    w = init_weights(GENOME, np.random.default_rng(1))
    save_network(path, GENOME, w)
    _, w2, meta = load_network(path)
    assert meta == {}
    _assert_weights_identical(w2, w)


def test_load_errors_name_the_path(tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(CheckpointError, match="missing.safetensors"):
        load_network(missing)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_network(junk)
    from safetensors.numpy import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": np.zeros(2, np.float32)}, str(foreign), metadata={"format": "other"})
    with pytest.raises(CheckpointError, match="foreign.safetensors.*format"):
        load_network(foreign)
    with pytest.raises(CheckpointError, match="JSON"):
        save_network(
            tmp_path / "bad.safetensors",
            GENOME,
            init_weights(GENOME, np.random.default_rng(0)),
            {"x": object()},
        )
    assert not (tmp_path / "bad.safetensors").exists()
