"""Structural mutation operators (paper §III-D, §III-E, eqs. 1, 3–6).

Each operator is a pure function ``(genome, weights, rng, params, **target) -> (genome, weights)``
that never changes its inputs and shares no array with them. Every gene a mutation does not
structurally touch is inherited bit-identical (Lamarckian evolution, §II-B). A mutation that
would break a constraint raises :class:`~ecosim.errors.MutationRejected` before anything is
built. :func:`mutate` draws the kind with the weights of eqs. 3–6 and reports failures as data.

Forced downstream changes, and the rule applied (documented contract):

* **node added** (layer ``l``): each node of layer ``l+1`` gains one input channel, drawn
  N(0, σ) — zeros with ``function_preserving`` so the offspring computes what the parent did.
* **node removed**: layer ``l+1`` drops exactly that input channel; other weights untouched.
* **conv layer added**: it gets as many kernels as its input has channels, so every later
  gene keeps its shape and values; with ``function_preserving`` it is an identity (centre tap
  1, stride 1; exact when its input is non-negative, i.e. after a ReLU layer).
* **FC layer added**: its width is the next layer's input count ``F`` (capped at
  ``new_dense_max_nodes``). If uncapped, the next layer keeps its values (re-shaped to the flat
  input); otherwise the next layer's input weights are drawn anew.
* **layer removed**: linear collapse. The next layer's weights are composed with the removed
  layer's linear map (for a conv layer, its kernels' centre taps), biases folded in; exact when the
  removed layer was linear on its inputs (1×1 kernels, stride 1, active units).
* **stride change or conv-layer change that alters the map feeding the first FC layer**:
  each channel's block of FC input weights is area-resampled to the new spatial size,
  conserving its sum (:func:`~ecosim.genome.weights.resample_area`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

import numpy as np

from ecosim.errors import MutationRejected
from ecosim.genome.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    Layer,
    constraint_violation,
    max_kernel_size,
    max_stride,
)
from ecosim.genome.sampling import eq1_choice, sample_kernel_shape, sample_stride
from ecosim.genome.weights import (
    DTYPE,
    LayerWeights,
    Weights,
    conform_weights,
    draw,
)


class MutationKind(str, Enum):
    """The structural mutations of §III-D/§III-E, each direction its own kind."""

    ADD_LAYER = "add_layer"
    REMOVE_LAYER = "remove_layer"
    ADD_NODE = "add_node"
    REMOVE_NODE = "remove_node"
    GROW_KERNEL = "grow_kernel"
    SHRINK_KERNEL = "shrink_kernel"
    GROW_STRIDE = "grow_stride"
    SHRINK_STRIDE = "shrink_stride"


@dataclass(frozen=True)
class MutationParams:
    """Settings of the mutation operators.

    Args:
        init_std: standard deviation of new connections (default 0.1, paper §IV).
        function_preserving: initialise new structure so the offspring computes what the parent
            did where possible (zero new tiles and outgoing weights, identity layers). Off by
            default: the paper draws everything new from N(0, 0.1).
        new_dense_max_nodes: cap on the width of a new FC layer (default 64).
    """

    init_std: float = 0.1
    function_preserving: bool = False
    new_dense_max_nodes: int = 64


@dataclass(frozen=True)
class MutationResult:
    """Outcome of :func:`mutate`: the offspring, or the failed kind and why.

    Attributes:
        kind: the kind drawn.
        ok: whether it was applied.
        genome, weights: the offspring (``None`` when not ok).
        reason: why it was rejected (empty when ok).
    """

    kind: MutationKind
    ok: bool
    genome: Genome | None = None
    weights: Weights | None = None
    reason: str = ""


Operator = Callable[..., "tuple[Genome, Weights]"]


# ---- helpers ----------------------------------------------------------------------------------


def _check(kind: MutationKind, genome: Genome) -> None:
    problem = constraint_violation(genome)
    if problem:
        raise MutationRejected(kind.value, problem)


def _copy_layer(lw: LayerWeights) -> LayerWeights:
    return LayerWeights(tuple(n.copy() for n in lw.nodes), lw.bias.copy())


def _conform(
    genome: Genome, layers: list[LayerWeights], rng: np.random.Generator, params: MutationParams
) -> Weights:
    return conform_weights(genome, layers, rng, params.init_std, params.function_preserving)


def _modifiable(genome: Genome) -> list[int]:
    """Indices of conv and hidden FC layers (the output layer's nodes are the classes)."""
    return list(range(len(genome.layers) - 1))


def _pick(rng: np.random.Generator, seq: list[int]) -> int:
    return seq[int(rng.integers(len(seq)))]


# ---- layers -------------------------------------------------------------------------------------


def add_layer(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer_type: str | None = None,
    position: int | None = None,
) -> tuple[Genome, Weights]:
    """Insert a conv layer (among conv layers) or a hidden FC layer (§III-D).

    Args:
        layer_type: ``"conv"`` or ``"dense"``; drawn 50/50 when ``None``.
        position: index among layers of that type (``0..n``); uniform when ``None``.

    Returns:
        ``(genome, weights)`` of the offspring; see the module docstring for downstream rules.

    Raises:
        MutationRejected: the new stride would make a later kernel too large for its input.
    """
    kind = MutationKind.ADD_LAYER
    if layer_type is None:
        layer_type = "conv" if rng.random() < 0.5 else "dense"
    n_conv, n_hidden = genome.n_conv, len(genome.hidden_layers)
    geos = genome.geometry()
    fp = params.function_preserving
    layers = [_copy_layer(lw) for lw in weights.layers]
    if layer_type == "conv":
        p = int(rng.integers(n_conv + 1)) if position is None else position
        if not 0 <= p <= n_conv:
            raise MutationRejected(kind.value, f"conv position {p} outside 0..{n_conv}")
        geo = geos[p]
        c, (h_in, w_in) = geo.in_channels, geo.in_size
        if fp:
            kernels = tuple((1, 1) for _ in range(c))
            stride = (1, 1)
        else:
            kmax = (max_kernel_size(h_in), max_kernel_size(w_in))
            kernels = tuple(sample_kernel_shape(rng, *kmax) for _ in range(c))
            stride = sample_stride(rng, max_stride(h_in), max_stride(w_in))
        new_layer: Layer = ConvLayer(kernels, stride)
        new_genome = genome.replace_layers(genome.layers[:p] + (new_layer,) + genome.layers[p:])
        _check(kind, new_genome)
        if fp:
            nodes = []
            for j in range(c):
                k = np.zeros((c, 1, 1), dtype=DTYPE)
                k[j, 0, 0] = 1.0
                nodes.append(k)
            new_lw = LayerWeights(tuple(nodes), np.zeros(c, dtype=DTYPE))
        else:
            nodes = [draw(rng, (c, h, w), params.init_std) for h, w in kernels]
            new_lw = LayerWeights(tuple(nodes), draw(rng, (c,), params.init_std))
        layers.insert(p, new_lw)
        return new_genome, _conform(new_genome, layers, rng, params)
    if layer_type != "dense":
        raise MutationRejected(kind.value, f"layer_type must be 'conv' or 'dense', got {layer_type!r}")
    q = int(rng.integers(n_hidden + 1)) if position is None else position
    if not 0 <= q <= n_hidden:
        raise MutationRejected(kind.value, f"dense position {q} outside 0..{n_hidden}")
    idx = n_conv + q
    geo = geos[idx]
    f_in = geo.in_features
    width = min(f_in, params.new_dense_max_nodes)
    new_genome = genome.replace_layers(genome.layers[:idx] + (DenseLayer(width),) + genome.layers[idx:])
    in_shape = (geo.in_channels, *geo.in_size)
    if fp and width == f_in:
        eye = np.eye(f_in, dtype=DTYPE)
        new_nodes = tuple(eye[j].reshape(in_shape).copy() for j in range(width))
        new_bias = np.zeros(width, dtype=DTYPE)
    else:
        new_nodes = tuple(draw(rng, in_shape, params.init_std) for _ in range(width))
        new_bias = draw(rng, (width,), params.init_std)
    nxt = layers[idx]
    if width == f_in:  # values kept, viewed as a flat input
        nxt_nodes = tuple(n.reshape(f_in, 1, 1).copy() for n in nxt.nodes)
    else:  # capped: the next layer sees new features, its inputs are drawn anew
        nxt_nodes = tuple(draw(rng, (width, 1, 1), params.init_std) for _ in nxt.nodes)
    layers[idx] = LayerWeights(nxt_nodes, nxt.bias.copy())
    layers.insert(idx, LayerWeights(new_nodes, new_bias))
    return new_genome, _conform(new_genome, layers, rng, params)


def remove_layer(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    index: int | None = None,
) -> tuple[Genome, Weights]:
    """Remove a conv or hidden FC layer, collapsing its linear map into the next layer (§III-D).

    Args:
        index: layer index (not the output layer); uniform over removable layers when ``None``.

    Raises:
        MutationRejected: no removable layer, or ``index`` is the output layer.
    """
    kind = MutationKind.REMOVE_LAYER
    candidates = _modifiable(genome)
    if not candidates:
        raise MutationRejected(kind.value, "the genome has no conv or hidden FC layer to remove")
    i = _pick(rng, candidates) if index is None else index
    if i not in candidates:
        raise MutationRejected(kind.value, f"layer {i} cannot be removed (output layer or out of range)")
    new_genome = genome.replace_layers(genome.layers[:i] + genome.layers[i + 1 :])
    _check(kind, new_genome)
    geos = genome.geometry()
    removed, nxt = weights.layers[i], weights.layers[i + 1]
    c_prev = geos[i].in_channels
    if isinstance(genome.layers[i], ConvLayer):
        # centre taps: (C_L, C_prev)
        m = np.stack([k[:, k.shape[1] // 2, k.shape[2] // 2] for k in removed.nodes]).astype(np.float64)
        new_nodes, new_bias = [], []
        for node, b in zip(nxt.nodes, nxt.bias):
            nd = node.astype(np.float64)
            new_nodes.append(np.einsum("chw,ci->ihw", nd, m).astype(DTYPE))
            new_bias.append(b + float(np.einsum("chw,c->", nd, removed.bias.astype(np.float64))))
    else:
        in_shape = (c_prev, *geos[i].in_size)
        m = np.stack([n.reshape(-1) for n in removed.nodes]).astype(np.float64)  # (n_L, F_prev)
        new_nodes, new_bias = [], []
        for node, b in zip(nxt.nodes, nxt.bias):
            v = node.reshape(-1).astype(np.float64)  # (n_L,)
            new_nodes.append((v @ m).reshape(in_shape).astype(DTYPE))
            new_bias.append(b + float(v @ removed.bias.astype(np.float64)))
    layers = [_copy_layer(lw) for lw in weights.layers]
    layers[i + 1] = LayerWeights(tuple(new_nodes), np.asarray(new_bias, dtype=DTYPE))
    del layers[i]
    return new_genome, _conform(new_genome, layers, rng, params)


# ---- nodes --------------------------------------------------------------------------------------


def add_node(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer: int | None = None,
) -> tuple[Genome, Weights]:
    """Append one node (a kernel shaped by eq. 1, or a neuron) to a conv or hidden FC layer.

    The next layer gains one input channel (N(0, σ), or zeros with ``function_preserving``).

    Raises:
        MutationRejected: no conv or hidden FC layer, or ``layer`` is the output layer.
    """
    kind = MutationKind.ADD_NODE
    candidates = _modifiable(genome)
    if not candidates:
        raise MutationRejected(kind.value, "the genome has no conv or hidden FC layer to grow")
    i = _pick(rng, candidates) if layer is None else layer
    if i not in candidates:
        raise MutationRejected(kind.value, f"layer {i} cannot gain nodes (output layer or out of range)")
    geo = genome.geometry()[i]
    target = genome.layers[i]
    if isinstance(target, ConvLayer):
        shape = sample_kernel_shape(rng, max_kernel_size(geo.in_size[0]), max_kernel_size(geo.in_size[1]))
        new_layer: Layer = ConvLayer(target.kernels + (shape,), target.stride)
        node = draw(rng, (geo.in_channels, *shape), params.init_std)
    else:
        new_layer = DenseLayer(target.nodes + 1)
        node = draw(rng, (geo.in_channels, *geo.in_size), params.init_std)
    new_genome = genome.replace_layers(genome.layers[:i] + (new_layer,) + genome.layers[i + 1 :])
    _check(kind, new_genome)
    layers = [_copy_layer(lw) for lw in weights.layers]
    old = layers[i]
    bias = np.append(old.bias, draw(rng, (1,), params.init_std, params.function_preserving))
    layers[i] = LayerWeights(old.nodes + (node,), bias.astype(DTYPE))
    # _conform appends the new input channel of layer i+1 (identity map + one new channel)
    return new_genome, _conform(new_genome, layers, rng, params)


def remove_node(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer: int | None = None,
    node: int | None = None,
) -> tuple[Genome, Weights]:
    """Remove one node from a conv or hidden FC layer with ≥ 2 nodes; the next layer drops that input.

    Raises:
        MutationRejected: no such layer, or the chosen layer has a single node (remove the layer).
    """
    kind = MutationKind.REMOVE_NODE
    candidates = [i for i in _modifiable(genome) if genome.layers[i].nodes >= 2]
    if not candidates:
        raise MutationRejected(kind.value, "no conv or hidden FC layer has two or more nodes")
    i = _pick(rng, candidates) if layer is None else layer
    if i not in candidates:
        raise MutationRejected(kind.value, f"layer {i} has no removable node (output, single node or out of range)")
    target = genome.layers[i]
    j = int(rng.integers(target.nodes)) if node is None else node
    if not 0 <= j < target.nodes:
        raise MutationRejected(kind.value, f"node {j} outside 0..{target.nodes - 1}")
    if isinstance(target, ConvLayer):
        new_layer: Layer = ConvLayer(target.kernels[:j] + target.kernels[j + 1 :], target.stride)
    else:
        new_layer = DenseLayer(target.nodes - 1)
    new_genome = genome.replace_layers(genome.layers[:i] + (new_layer,) + genome.layers[i + 1 :])
    _check(kind, new_genome)
    layers = [_copy_layer(lw) for lw in weights.layers]
    old = layers[i]
    layers[i] = LayerWeights(old.nodes[:j] + old.nodes[j + 1 :], np.delete(old.bias, j))
    keep = [c for c in range(target.nodes) if c != j]
    nxt = layers[i + 1]
    nxt_nodes = tuple(n[keep].copy() for n in nxt.nodes)
    layers[i + 1] = LayerWeights(nxt_nodes, nxt.bias.copy())
    return new_genome, _conform(new_genome, layers, rng, params)


# ---- kernels and strides ------------------------------------------------------------------------


def _resize_kernel(
    kind: MutationKind,
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams,
    delta: int,
    layer: int | None,
    node: int | None,
    dim: int | None,
) -> tuple[Genome, Weights]:
    conv_idx = [i for i, l in enumerate(genome.layers) if isinstance(l, ConvLayer)]
    if not conv_idx:
        raise MutationRejected(kind.value, "the genome has no conv layer")
    if layer is None:
        flat = [(i, j) for i in conv_idx for j in range(genome.layers[i].nodes)]
        layer, pick_node = flat[int(rng.integers(len(flat)))]
        node = pick_node if node is None else node
    if layer not in conv_idx:
        raise MutationRejected(kind.value, f"layer {layer} is not a conv layer")
    target = genome.layers[layer]
    assert isinstance(target, ConvLayer)
    j = int(rng.integers(target.nodes)) if node is None else node
    if not 0 <= j < target.nodes:
        raise MutationRejected(kind.value, f"kernel {j} outside 0..{target.nodes - 1}")
    geo = genome.geometry()[layer]
    limit = (max_kernel_size(geo.in_size[0]), max_kernel_size(geo.in_size[1]))
    h, w = target.kernels[j]
    options: list[tuple[int, tuple[int, int]]] = []
    for d in (0, 1):
        size = [h, w]
        size[d] += delta
        if 1 <= size[d] <= limit[d]:
            options.append((d, (size[0], size[1])))
    if dim is not None:
        options = [o for o in options if o[0] == dim]
    if not options:
        bound = "1" if delta < 0 else f"{limit}"
        raise MutationRejected(kind.value, f"layer {layer} kernel {j} of shape {(h, w)} is at its bound {bound}")
    shape = eq1_choice(rng, [o[1] for o in options])
    kernels = list(target.kernels)
    kernels[j] = shape
    new_genome = genome.replace_layers(
        genome.layers[:layer] + (ConvLayer(tuple(kernels), target.stride),) + genome.layers[layer + 1 :]
    )
    _check(kind, new_genome)
    old = weights.layers[layer].nodes[j]
    nh, nw = shape
    new: np.ndarray
    if delta > 0:
        new = draw(rng, (old.shape[0], nh, nw), params.init_std, params.function_preserving)
        top, left = (nh - h) // 2, (nw - w) // 2
        new[:, top : top + h, left : left + w] = old  # centre kept
    else:
        top, left = (h - nh) // 2, (w - nw) // 2
        new = old[:, top : top + nh, left : left + nw].copy()
    layers = [_copy_layer(lw) for lw in weights.layers]
    lw = layers[layer]
    layers[layer] = LayerWeights(lw.nodes[:j] + (new,) + lw.nodes[j + 1 :], lw.bias)
    return new_genome, _conform(new_genome, layers, rng, params)


def grow_kernel(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer: int | None = None,
    node: int | None = None,
    dim: int | None = None,
) -> tuple[Genome, Weights]:
    """Grow one kernel by 2 in one dimension, keeping its centre (§III-E).

    The kernel is uniform over all kernels of the network; the dimension (0 = height, 1 = width)
    is drawn among those that stay ≤ half the layer's input by eq. 1 on the resulting shape.
    New border tiles: N(0, σ), zeros with ``function_preserving``. Padding follows the largest
    kernel, so no other layer changes.

    Raises:
        MutationRejected: no conv layer, or the kernel is at its bound in every allowed dimension.
    """
    return _resize_kernel(MutationKind.GROW_KERNEL, genome, weights, rng, params, 2, layer, node, dim)


def shrink_kernel(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer: int | None = None,
    node: int | None = None,
    dim: int | None = None,
) -> tuple[Genome, Weights]:
    """Shrink one kernel by 2 in one dimension, keeping its central tiles (§III-E).

    Raises:
        MutationRejected: no conv layer, or the kernel is 1 in every allowed dimension.
    """
    return _resize_kernel(MutationKind.SHRINK_KERNEL, genome, weights, rng, params, -2, layer, node, dim)


def _resize_stride(
    kind: MutationKind,
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams,
    delta: int,
    layer: int | None,
    dim: int | None,
) -> tuple[Genome, Weights]:
    conv_idx = [i for i, l in enumerate(genome.layers) if isinstance(l, ConvLayer)]
    if not conv_idx:
        raise MutationRejected(kind.value, "the genome has no conv layer")
    i = _pick(rng, conv_idx) if layer is None else layer
    if i not in conv_idx:
        raise MutationRejected(kind.value, f"layer {i} is not a conv layer")
    target = genome.layers[i]
    assert isinstance(target, ConvLayer)
    geo = genome.geometry()[i]
    limit = (max_stride(geo.in_size[0]), max_stride(geo.in_size[1]))
    options: list[tuple[int, tuple[int, int]]] = []
    for d in (0, 1):
        st = list(target.stride)
        st[d] += delta
        if 1 <= st[d] <= limit[d]:
            options.append((d, (st[0], st[1])))
    if dim is not None:
        options = [o for o in options if o[0] == dim]
    if not options:
        raise MutationRejected(kind.value, f"layer {i} stride {target.stride} is at its bound (1..{limit})")
    stride = eq1_choice(rng, [o[1] for o in options])
    new_genome = genome.replace_layers(
        genome.layers[:i] + (ConvLayer(target.kernels, stride),) + genome.layers[i + 1 :]
    )
    _check(kind, new_genome)
    return new_genome, _conform(new_genome, list(weights.layers), rng, params)


def grow_stride(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer: int | None = None,
    dim: int | None = None,
) -> tuple[Genome, Weights]:
    """Grow one conv layer's stride by 1 in one dimension (§III-E).

    The map feeding the first FC layer shrinks: its input weights are area-resampled.

    Raises:
        MutationRejected: no conv layer, the stride would exceed the input size, or a later
            kernel would exceed half of its new, smaller input.
    """
    return _resize_stride(MutationKind.GROW_STRIDE, genome, weights, rng, params, 1, layer, dim)


def shrink_stride(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    layer: int | None = None,
    dim: int | None = None,
) -> tuple[Genome, Weights]:
    """Shrink one conv layer's stride by 1 in one dimension (§III-E).

    Raises:
        MutationRejected: no conv layer or the stride is already 1 in every allowed dimension.
    """
    return _resize_stride(MutationKind.SHRINK_STRIDE, genome, weights, rng, params, -1, layer, dim)


OPERATORS: dict[MutationKind, Operator] = {
    MutationKind.ADD_LAYER: add_layer,
    MutationKind.REMOVE_LAYER: remove_layer,
    MutationKind.ADD_NODE: add_node,
    MutationKind.REMOVE_NODE: remove_node,
    MutationKind.GROW_KERNEL: grow_kernel,
    MutationKind.SHRINK_KERNEL: shrink_kernel,
    MutationKind.GROW_STRIDE: grow_stride,
    MutationKind.SHRINK_STRIDE: shrink_stride,
}


# ---- mutation type weights, eqs. 3–6 ------------------------------------------------------------


def mutation_weights(genome: Genome) -> dict[MutationKind, float]:
    """Probability of each mutation kind for ``genome``, from eqs. 3–6 (§III-D).

    With ``µc`` the mean connections per node, ``µn, σn`` mean and standard deviation of nodes
    per layer, ``Ncl`` conv layers, ``µo`` mean output units (C·H·W) per conv layer, ``Nk`` mean
    kernels per conv layer and ``Ak`` mean kernel area:

        p_layer ∝ 1 / (µc (µn + σn))    (eq. 3)     p_node ∝ 1 / µc     (eq. 4)
        p_stride ∝ 1 / (Ncl µo)         (eq. 5)     p_kernel ∝ 1 / (Nk Ak)  (eq. 6)

    Each weight is shared equally by its two directions (add/remove, grow/shrink); a direction
    with no possible target (e.g. removing a node from single-node layers, stride or kernel
    mutations without conv layers) gets 0. Returns probabilities summing to 1.
    """
    geos = genome.geometry()
    conns: list[int] = []
    counts: list[int] = []
    conv_out: list[int] = []
    kernel_areas: list[int] = []
    kernels_per_layer: list[int] = []
    for geo, layer in zip(geos, genome.layers):
        counts.append(layer.nodes)
        if isinstance(layer, ConvLayer):
            conns.extend(geo.in_channels * h * w for h, w in layer.kernels)
            conv_out.append(layer.nodes * geo.out_size[0] * geo.out_size[1])
            kernel_areas.extend(h * w for h, w in layer.kernels)
            kernels_per_layer.append(layer.nodes)
        else:
            conns.extend([geo.in_features] * layer.nodes)
    mu_c = float(np.mean(conns))
    mu_n, sigma_n = float(np.mean(counts)), float(np.std(counts))
    p_layer = 1.0 / (mu_c * (mu_n + sigma_n))
    p_node = 1.0 / mu_c
    has_conv = bool(conv_out)
    p_stride = 1.0 / (len(conv_out) * float(np.mean(conv_out))) if has_conv else 0.0
    p_kernel = 1.0 / (float(np.mean(kernels_per_layer)) * float(np.mean(kernel_areas))) if has_conv else 0.0
    modifiable = _modifiable(genome)
    w = {
        MutationKind.ADD_LAYER: p_layer / 2,
        MutationKind.REMOVE_LAYER: p_layer / 2 if modifiable else 0.0,
        MutationKind.ADD_NODE: p_node / 2 if modifiable else 0.0,
        MutationKind.REMOVE_NODE: p_node / 2 if any(genome.layers[i].nodes >= 2 for i in modifiable) else 0.0,
        MutationKind.GROW_KERNEL: p_kernel / 2,
        MutationKind.SHRINK_KERNEL: p_kernel / 2 if any(max(k) > 1 for l in genome.conv_layers for k in l.kernels) else 0.0,
        MutationKind.GROW_STRIDE: p_stride / 2,
        MutationKind.SHRINK_STRIDE: p_stride / 2 if any(max(l.stride) > 1 for l in genome.conv_layers) else 0.0,
    }
    total = sum(w.values())
    return {k: v / total for k, v in w.items()}


def mutate(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    kind: MutationKind | None = None,
) -> MutationResult:
    """Draw a mutation kind by eqs. 3–6 (or use ``kind``) and apply it.

    Returns:
        :class:`MutationResult`; a rejected mutation comes back with ``ok=False`` and its reason
        (the paper's "failed structural mutation"), never as an exception.
    """
    if kind is None:
        probs = mutation_weights(genome)
        kinds = list(probs)
        kind = kinds[int(rng.choice(len(kinds), p=np.array([probs[k] for k in kinds])))]
    try:
        g, w = OPERATORS[kind](genome, weights, rng, params)
    except MutationRejected as exc:
        return MutationResult(kind, False, reason=exc.reason)
    return MutationResult(kind, True, g, w)


__all__ = [
    "OPERATORS",
    "MutationKind",
    "MutationParams",
    "MutationResult",
    "add_layer",
    "add_node",
    "grow_kernel",
    "grow_stride",
    "mutate",
    "mutation_weights",
    "remove_layer",
    "remove_node",
    "shrink_kernel",
    "shrink_stride",
]
