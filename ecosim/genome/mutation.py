"""Structural mutation operators, and :func:`mutate`, which draws a kind and applies it (§III-D/E).

Each operator is a pure function ``(genome, weights, rng, params, **target) -> (genome, weights)``
that never changes its inputs and shares no array with them. Every gene a mutation does not
structurally touch is inherited bit-identical (Lamarckian evolution, §II-B). An operator draws
its target only among the *feasible* ones (those whose change keeps every constraint,
:mod:`ecosim.genome.mutation_choice`), so a randomly targeted mutation fails only when no target
exists; then, or when an explicit target is infeasible, it raises
:class:`~ecosim.errors.MutationRejected` before anything is built. :func:`mutate` draws the kind
with the weights of eqs. 3–6 (:func:`~ecosim.genome.mutation_choice.mutation_weights`; a kind
without a feasible target weighs 0) and reports failures as data.

Beside this module, one concept each: the kinds (:mod:`~ecosim.genome.mutation_kinds`), the
``[mutation]`` settings (:mod:`~ecosim.genome.mutation_params`), which kind and target
(:mod:`~ecosim.genome.mutation_choice`), the size and shape of new layers and kernels
(:mod:`~ecosim.genome.new_structure`), the weights of exact growth
(:mod:`~ecosim.genome.function_preserving`) and the kernel and stride operators of §III-E
(:mod:`~ecosim.genome.mutation_resize`). Pure numpy: no torch, no Ray.

New layers (§III-D; size rule of the reference implementation, PyCortex's ``add_layer``): a new
conv or FC layer gets :func:`~ecosim.genome.new_structure.new_layer_nodes` nodes,
``floor(mean nodes per layer)`` over all layers of the network (output layer included) clipped
to ``[new_layer_min_nodes, new_layer_max_nodes]``; the same rule for both types, so neither
starts as a bottleneck the other does not face. New kernel shapes and strides are drawn by eq. 1
among those that keep every constraint.

Forced downstream changes, and the rule applied (documented contract):

* **node added** (layer ``l``): each node of layer ``l+1`` gains one input channel, drawn
  N(0, σ) — zeros with ``function_preserving`` so the offspring computes what the parent did.
* **node removed**: layer ``l+1`` drops exactly that input channel; other weights untouched.
* **conv layer added** (``n`` kernels on ``C`` input channels): the next layer keeps its weights
  for input channels ``0..min(n, C)−1`` by index; channels beyond ``C`` are drawn N(0, σ),
  channels beyond ``n`` are dropped. With ``function_preserving`` the layer is an exact identity
  (1×1, stride 1; ± pairs on the signed image) and the next layer is re-mapped onto it.
* **FC layer added** (width ``n``, ``F`` inputs): if ``n ≥ F`` the next layer keeps its values
  (re-shaped to the flat input) for the first ``F`` inputs, the others drawn; otherwise the next
  layer's input weights are drawn anew. With ``function_preserving`` the layer is exact: an
  identity on its inputs or a ± copy of the next layer, whichever is narrower (:func:`add_layer`).
* **layer removed**: linear collapse. The next layer's weights are composed with the removed
  layer's linear map (for a conv layer, its kernels' centre taps), biases folded in; exact when the
  removed layer was linear on its inputs (1×1 kernels, stride 1, active units).
* **stride change or conv-layer change that alters the map feeding the first FC layer**:
  each channel's block of FC input weights is area-resampled to the new spatial size,
  conserving its sum (:func:`~ecosim.genome.weights.resample_area`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from ecosim.errors import MutationRejected
from ecosim.genome.compute import multiply_accumulates
from ecosim.genome.function_preserving import (
    exact_dense_layer,
    identity_conv_layer,
    identity_width,
    onto_identity,
    signed_input,
)
from ecosim.genome.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    Layer,
    max_kernel_size,
)
from ecosim.genome.mutation_choice import (
    feasible_new_strides,
    modifiable_layers,
    mutation_weights,
    require_valid,
)
from ecosim.genome.mutation_kinds import MutationKind
from ecosim.genome.mutation_params import MutationParams
from ecosim.genome.mutation_resize import grow_kernel, grow_stride, shrink_kernel, shrink_stride
from ecosim.genome.new_structure import new_kernel_shape, new_layer_kernel_shapes, new_layer_nodes
from ecosim.genome.sampling import eq1_choice
from ecosim.genome.weights import (
    DTYPE,
    LayerWeights,
    Weights,
    conform_weights,
    draw,
)


@dataclass(frozen=True)
class MutationResult:
    """Outcome of :func:`mutate`: the offspring, or the failed kind and why.

    Attributes:
        kind: the kind drawn.
        ok: whether it was applied.
        genome, weights: the offspring (``None`` when not ok).
        reason: why it was rejected (empty when ok).
        cap_redraws: draws discarded over the cost cap before this outcome (``mutation.max_macs``);
            :data:`MAX_DRAWS` with ``ok=False`` when every draw was over it.
    """

    kind: MutationKind
    ok: bool
    genome: Genome | None = None
    weights: Weights | None = None
    reason: str = ""
    cap_redraws: int = 0

    @property
    def over_cap(self) -> bool:
        """Whether it failed because every draw exceeded the cost cap."""
        return not self.ok and self.cap_redraws >= MAX_DRAWS


Operator = Callable[..., "tuple[Genome, Weights]"]


# ---- helpers ----------------------------------------------------------------------------------


def _conform(genome: Genome, layers: list[LayerWeights], rng: np.random.Generator, params: MutationParams) -> Weights:
    return conform_weights(genome, layers, rng, params.init_std, params.function_preserving)


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

    The new layer gets :func:`~ecosim.genome.new_structure.new_layer_nodes` nodes whatever its
    type. A conv layer's kernel shapes are drawn by eq. 1 within half its input, its stride by
    eq. 1 among :func:`~ecosim.genome.mutation_choice.feasible_new_strides`; so the insertion
    never breaks a constraint. New weights are N(0, ``init_std``); the next layer's inputs are
    matched by channel index (module docstring).

    With ``function_preserving`` the offspring computes exactly what the parent did (ReLU):

    * conv layer: stride 1, 1×1 kernels, the first ``C`` an identity on its ``C`` input channels,
      or ``2C`` as ± pairs on the signed input image (layer 0); ``max(n, C or 2C)`` kernels, those
      beyond the identity drawn N(0, σ) with zero outgoing weights; the next layer's weights are
      re-mapped onto the identity's channels
      (:func:`~ecosim.genome.function_preserving.identity_conv_layer`).
    * FC layer on ``F`` inputs before a layer of ``m`` nodes: the narrower of an identity on its
      inputs (``F``, or ``2F`` as ± pairs on the image) and a ± copy of the next layer (``2m``
      nodes computing ``ReLU(z)``, ``ReLU(−z)`` of the next layer's pre-activation ``z``, the next
      layer becoming ``[I, −I]`` with zero bias); ``max(n, that)`` nodes, the extra ones drawn
      with zero outgoing weights (:func:`~ecosim.genome.function_preserving.exact_dense_layer`).
      So any ``F`` is exact, and the width may exceed ``new_layer_max_nodes``.

    Args:
        genome, weights: the parent (not modified).
        rng: the mutation stream.
        params: :class:`MutationParams`.
        layer_type: ``"conv"`` or ``"dense"``; when ``None``, conv with probability
            ``params.new_layer_conv_share`` (0.5).
        position: index among layers of that type (``0..n``); uniform when ``None``.

    Returns:
        ``(genome, weights)`` of the offspring, one layer longer.

    Raises:
        MutationRejected: an unknown ``layer_type`` or a ``position`` out of range.

    Shape:
        a conv layer inserted on a ``(C, H, W)`` map with stride ``(sh, sw)`` emits
        ``(n, ceil(H/sh), ceil(W/sw))``; an FC layer on ``F = C·H·W`` inputs emits ``(n,)``.

    >>> from ecosim.genome.weights import init_weights
    >>> g = Genome.minimal((1, 28, 28), classes=10)
    >>> w = init_weights(g, np.random.default_rng(0))
    >>> add_layer(g, w, np.random.default_rng(0), layer_type="conv")[0].species_key
    ((10,), ())
    """
    kind = MutationKind.ADD_LAYER
    if layer_type is None:
        layer_type = "conv" if rng.random() < params.new_layer_conv_share else "dense"
    n_conv, n_hidden = genome.n_conv, len(genome.hidden_layers)
    geos = genome.geometry()
    fp = params.function_preserving
    std = params.init_std
    n = new_layer_nodes(genome, params)
    layers = [lw.copy() for lw in weights.layers]
    if layer_type == "conv":
        p = int(rng.integers(n_conv + 1)) if position is None else position
        if not 0 <= p <= n_conv:
            raise MutationRejected(kind.value, f"conv position {p} outside 0..{n_conv}")
        geo = geos[p]
        c, (h_in, w_in) = geo.in_channels, geo.in_size
        kmax = (max_kernel_size(h_in), max_kernel_size(w_in))
        if fp:  # an identity (function_preserving.py): stride 1, at least one kernel per channel
            n = max(n, identity_width(c, signed_input(p)))
        kernels = new_layer_kernel_shapes(rng, params, n, *kmax)
        stride = (1, 1) if fp else eq1_choice(rng, feasible_new_strides(genome, p))
        new_genome = genome.replace_layers(genome.layers[:p] + (ConvLayer(kernels, stride),) + genome.layers[p:])
        require_valid(kind, new_genome)
        if fp:  # the next layer reads the identity's channels (same spatial size: stride 1)
            layers.insert(p, identity_conv_layer(c, kernels, signed_input(p), rng, std))
            layers[p + 1] = onto_identity(layers[p + 1], n, signed_input(p))
        else:  # the next layer's inputs are matched by channel index (_conform), new ones drawn
            nodes = tuple(draw(rng, (c, h, w), std) for h, w in kernels)
            layers.insert(p, LayerWeights(nodes, draw(rng, (n,), std)))
        return new_genome, _conform(new_genome, layers, rng, params)
    if layer_type != "dense":
        raise MutationRejected(kind.value, f"layer_type must be 'conv' or 'dense', got {layer_type!r}")
    q = int(rng.integers(n_hidden + 1)) if position is None else position
    if not 0 <= q <= n_hidden:
        raise MutationRejected(kind.value, f"dense position {q} outside 0..{n_hidden}")
    idx = n_conv + q
    geo = geos[idx]
    f_in = geo.in_features
    in_shape = (geo.in_channels, *geo.in_size)
    nxt = layers[idx]
    if fp:  # an identity or a ± copy of the next layer (function_preserving.py)
        new_lw, nxt_lw = exact_dense_layer(nxt, in_shape, signed_input(idx), n, rng, std)
        new_layer = DenseLayer(len(new_lw.nodes))
        new_genome = genome.replace_layers(genome.layers[:idx] + (new_layer,) + genome.layers[idx:])
        require_valid(kind, new_genome)
        layers[idx] = nxt_lw
        layers.insert(idx, new_lw)
        return new_genome, _conform(new_genome, layers, rng, params)
    width = n
    new_genome = genome.replace_layers(genome.layers[:idx] + (DenseLayer(width),) + genome.layers[idx:])
    require_valid(kind, new_genome)
    new_nodes = [draw(rng, in_shape, std) for _ in range(width)]
    new_bias = draw(rng, (width,), std)
    if width >= f_in:  # values kept for the first F inputs, viewed as a flat input; _conform adds the rest
        nxt_nodes = tuple(node.reshape(f_in, 1, 1).copy() for node in nxt.nodes)
    else:  # the next layer sees new, fewer features: its inputs are drawn anew
        nxt_nodes = tuple(draw(rng, (width, 1, 1), std) for _ in nxt.nodes)
    layers[idx] = LayerWeights(nxt_nodes, nxt.bias.copy())
    layers.insert(idx, LayerWeights(tuple(new_nodes), new_bias))
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
    candidates = modifiable_layers(genome)
    if not candidates:
        raise MutationRejected(kind.value, "the genome has no conv or hidden FC layer to remove")
    i = _pick(rng, candidates) if index is None else index
    if i not in candidates:
        raise MutationRejected(kind.value, f"layer {i} cannot be removed (output layer or out of range)")
    new_genome = genome.replace_layers(genome.layers[:i] + genome.layers[i + 1 :])
    require_valid(kind, new_genome)
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
    layers = [lw.copy() for lw in weights.layers]
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
    """Append one node (a kernel shaped by eq. 1, or a neuron) to a conv or hidden FC layer (§III-D).

    ``params.nodes_per_mutation`` nodes (1: the paper), all to the same layer. The next layer
    gains one input channel per node (N(0, σ), or zeros with ``function_preserving``).

    Raises:
        MutationRejected: no conv or hidden FC layer, or ``layer`` is the output layer.
    """
    kind = MutationKind.ADD_NODE
    candidates = modifiable_layers(genome)
    if not candidates:
        raise MutationRejected(kind.value, "the genome has no conv or hidden FC layer to grow")
    i = _pick(rng, candidates) if layer is None else layer
    if i not in candidates:
        raise MutationRejected(kind.value, f"layer {i} cannot gain nodes (output layer or out of range)")
    geo = genome.geometry()[i]
    target = genome.layers[i]
    n = params.nodes_per_mutation
    if isinstance(target, ConvLayer):
        shapes: tuple[tuple[int, int], ...] = ()
        nodes: tuple[np.ndarray, ...] = ()
        for _ in range(n):  # shape, then weights, node by node (n = 1: the draws of ecosim ≤ 0.9.4)
            shape = new_kernel_shape(rng, params, max_kernel_size(geo.in_size[0]), max_kernel_size(geo.in_size[1]))
            shapes += (shape,)
            nodes += (draw(rng, (geo.in_channels, *shape), params.init_std),)
        new_layer: Layer = ConvLayer(target.kernels + shapes, target.stride)
    else:
        new_layer = DenseLayer(target.nodes + n)
        nodes = tuple(draw(rng, (geo.in_channels, *geo.in_size), params.init_std) for _ in range(n))
    new_genome = genome.replace_layers(genome.layers[:i] + (new_layer,) + genome.layers[i + 1 :])
    require_valid(kind, new_genome)
    layers = [lw.copy() for lw in weights.layers]
    old = layers[i]
    bias = np.append(old.bias, draw(rng, (n,), params.init_std, params.function_preserving))
    layers[i] = LayerWeights(old.nodes + nodes, bias.astype(DTYPE))
    # _conform appends the new input channels of layer i+1 (identity map + n new channels)
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
    """Remove one node from a conv or hidden FC layer with ≥ 2 nodes; the next layer drops that input (§III-D).

    ``params.nodes_per_mutation`` nodes (1: the paper), drawn without replacement from one layer,
    at most all but one; ``node`` names a single node instead.

    Raises:
        MutationRejected: no such layer, or the chosen layer has a single node (remove the layer).
    """
    kind = MutationKind.REMOVE_NODE
    candidates = [i for i in modifiable_layers(genome) if genome.layers[i].nodes >= 2]
    if not candidates:
        raise MutationRejected(kind.value, "no conv or hidden FC layer has two or more nodes")
    i = _pick(rng, candidates) if layer is None else layer
    if i not in candidates:
        raise MutationRejected(kind.value, f"layer {i} has no removable node (output, single node or out of range)")
    target = genome.layers[i]
    m = min(params.nodes_per_mutation, target.nodes - 1) if node is None else 1
    if node is not None:
        gone = {node}
    elif m == 1:
        gone = {int(rng.integers(target.nodes))}  # the draw of ecosim ≤ 0.9.4
    else:
        gone = {int(j) for j in rng.choice(target.nodes, size=m, replace=False)}
    if not all(0 <= j < target.nodes for j in gone):
        raise MutationRejected(kind.value, f"node {node} outside 0..{target.nodes - 1}")
    keep = [c for c in range(target.nodes) if c not in gone]
    if isinstance(target, ConvLayer):
        new_layer: Layer = ConvLayer(tuple(target.kernels[c] for c in keep), target.stride)
    else:
        new_layer = DenseLayer(len(keep))
    new_genome = genome.replace_layers(genome.layers[:i] + (new_layer,) + genome.layers[i + 1 :])
    require_valid(kind, new_genome)
    layers = [lw.copy() for lw in weights.layers]
    old = layers[i]
    layers[i] = LayerWeights(tuple(old.nodes[c] for c in keep), old.bias[keep].copy())
    nxt = layers[i + 1]
    nxt_nodes = tuple(n[keep].copy() for n in nxt.nodes)
    layers[i + 1] = LayerWeights(nxt_nodes, nxt.bias.copy())
    return new_genome, _conform(new_genome, layers, rng, params)


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


#: Draws :func:`mutate` makes before it gives up on ``mutation.max_macs`` (the parent is then cloned).
MAX_DRAWS = 16


def mutate(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    kind: MutationKind | None = None,
    kinds: Collection[MutationKind] | None = None,
    generation: int = 0,
) -> MutationResult:
    """Draw a mutation kind by eqs. 3–6 or ``params.family_weights`` (or use ``kind``) and apply it (§III-D).

    With ``params.max_macs`` (a cost cap, issue 17), a drawn mutation whose offspring costs more
    multiply-accumulates per image than the cap and than its parent is discarded and another
    one drawn from the same stream, :data:`MAX_DRAWS` draws at most. With
    ``params.max_macs_doubling`` the cap is the one of ``generation`` (:meth:`MutationParams.cap`).

    Args:
        genome, weights: the parent (not modified).
        rng: the mutation stream.
        params: :class:`MutationParams`.
        kind: apply this kind instead of drawing one.
        kinds: draw only among these kinds (e.g.
            :data:`~ecosim.genome.mutation_kinds.SPECIES_KINDS`), weights renormalised.
        generation: the generation the offspring is born in (only the rising cost cap reads it).

    Returns:
        :class:`MutationResult`; a rejected mutation comes back with ``ok=False`` and its reason
        (the paper's "failed structural mutation"), never as an exception. A drawn kind always has
        a feasible target, so only an explicit ``kind``, the cost cap, or a constraint the
        operator meets while building (never, for a valid parent) gives ``ok=False``.

    Raises:
        ValueError: no kind in ``kinds`` has a feasible target.
    """
    cap = params.cap(generation)
    own = multiply_accumulates(genome) if cap else 0
    probs = mutation_weights(genome, kinds, params) if kind is None else {kind: 1.0}
    order = list(probs)
    p = np.array([probs[k] for k in order])
    for redraws in range(MAX_DRAWS if cap else 1):
        drawn = order[int(rng.choice(len(order), p=p))] if kind is None else kind
        try:
            g, w = OPERATORS[drawn](genome, weights, rng, params)
        except MutationRejected as exc:
            return MutationResult(drawn, False, reason=exc.reason, cap_redraws=redraws)
        cost = multiply_accumulates(g) if cap else 0
        if not cap or cost <= max(cap, own):
            return MutationResult(drawn, True, g, w, cap_redraws=redraws)
    return MutationResult(
        drawn,
        False,
        reason=f"the offspring would cost {cost:.3g} multiply-accumulates per image, "
        f"over mutation.max_macs = {cap:.3g}" + (f" at generation {generation}" if params.max_macs_doubling else ""),
        cap_redraws=MAX_DRAWS,
    )


__all__ = [
    "MAX_DRAWS",
    "OPERATORS",
    "MutationResult",
    "add_layer",
    "add_node",
    "grow_kernel",
    "grow_stride",
    "mutate",
    "remove_layer",
    "remove_node",
    "shrink_kernel",
    "shrink_stride",
]
