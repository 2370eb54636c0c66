"""Structural mutation operators (paper §III-D, §III-E, eqs. 1, 3–6).

Each operator is a pure function ``(genome, weights, rng, params, **target) -> (genome, weights)``
that never changes its inputs and shares no array with them. Every gene a mutation does not
structurally touch is inherited bit-identical (Lamarckian evolution, §II-B). An operator draws
its target only among the *feasible* ones (those whose change keeps every constraint), so a
randomly targeted mutation fails only when no target exists; then, or when an explicit target is
infeasible, it raises :class:`~ecosim.errors.MutationRejected` before anything is built.
:func:`mutate` draws the kind with the weights of eqs. 3–6 (a kind without a feasible target
weighs 0) and reports failures as data.

New layers (§III-D; size rule of the reference implementation, PyCortex's ``add_layer``): a new
conv or FC layer gets :func:`new_layer_nodes` nodes, ``floor(mean nodes per layer)`` over all
layers of the network (output layer included) clipped to ``[new_layer_min_nodes,
new_layer_max_nodes]``; the same rule for both types, so neither starts as a bottleneck the
other does not face. New kernel shapes and strides are drawn by eq. 1 among those that keep
every constraint.

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
from enum import Enum

import numpy as np

from ecosim.errors import ConfigError, MutationRejected
from ecosim.genome.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    Layer,
    Shape2,
    constraint_violation,
    max_kernel_size,
    max_stride,
)
from ecosim.genome.sampling import eq1_choice, sample_kernel_shape
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


#: Mutations that change the species key (§III: layers of each type, nodes per layer); the only
#: ones drawn while generating the initial species (§III-A, :mod:`ecosim.genome.initial`).
SPECIES_KINDS: tuple[MutationKind, ...] = (
    MutationKind.ADD_LAYER,
    MutationKind.REMOVE_LAYER,
    MutationKind.ADD_NODE,
    MutationKind.REMOVE_NODE,
)


#: ``mutation.resize_dimension``: how a kernel or stride resize picks its dimension (§III-E)
RESIZE_DIMENSIONS = ("uniform", "eq1")

#: The mutation families of ``mutation.family_weights``: each the two directions of one operator pair.
FAMILIES: dict[str, tuple[MutationKind, MutationKind]] = {
    "layer": (MutationKind.ADD_LAYER, MutationKind.REMOVE_LAYER),
    "node": (MutationKind.ADD_NODE, MutationKind.REMOVE_NODE),
    "kernel": (MutationKind.GROW_KERNEL, MutationKind.SHRINK_KERNEL),
    "stride": (MutationKind.GROW_STRIDE, MutationKind.SHRINK_STRIDE),
}


def _invalid(key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"config 'mutation.{key}' = {value!r} is invalid: must be {allowed}")


def parse_family_weights(spec: str) -> dict[MutationKind, float] | None:
    """``"layer=1,node=1,kernel=2,stride=0.5"`` → a weight per mutation kind; ``""`` → ``None`` (eqs. 3–6).

    A name is a family of :data:`FAMILIES` (its weight is shared by its two directions; a
    direction without a feasible target passes its share to the other) or a single kind such as
    ``add_layer`` (that kind alone). Kinds not named weigh 0; whitespace is ignored.

    Raises:
        ConfigError: bad syntax, an unknown name, a negative or non-finite weight, or all zero;
            the message names ``mutation.family_weights``.

    >>> w = parse_family_weights("layer=1, shrink_kernel=0.5")
    >>> w[MutationKind.ADD_LAYER], w[MutationKind.SHRINK_KERNEL], w[MutationKind.GROW_KERNEL]
    (0.5, 0.5, 0.0)
    """
    if not spec.strip():
        return None
    names = [*FAMILIES, *(k.value for k in MutationKind)]
    allowed = "'' (eqs. 3-6) or 'name=weight,...' with names " + ", ".join(names) + ", weights ≥ 0, not all 0"
    out = dict.fromkeys(MutationKind, 0.0)
    for part in spec.split(","):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or name not in names:
            raise _invalid("family_weights", spec, allowed)
        try:
            w = float(value)
        except ValueError:
            raise _invalid("family_weights", spec, allowed) from None
        if not np.isfinite(w) or w < 0:
            raise _invalid("family_weights", spec, allowed)
        if name in FAMILIES:
            for kind in FAMILIES[name]:
                out[kind] = w / 2
        else:
            out[MutationKind(name)] = w
    if sum(out.values()) <= 0:
        raise _invalid("family_weights", spec, allowed)
    return out


def _families_named(spec: str) -> set[str]:
    """The family names (not single kinds) in a ``family_weights`` spec."""
    return {part.partition("=")[0].strip() for part in spec.split(",")} & set(FAMILIES)


def parse_kernel_shape(spec: str) -> Shape2 | None:
    """``"3x3"`` → ``(3, 3)``; ``""`` → ``None`` (shapes by eq. 1).

    Raises:
        ConfigError: not ``<h>x<w>`` with odd ``h, w ≥ 1``; names ``mutation.new_kernel_shape``.

    >>> parse_kernel_shape("3x5")
    (3, 5)
    """
    if not spec.strip():
        return None
    h, x, w = spec.strip().partition("x")
    if not x or not h.isdigit() or not w.isdigit() or int(h) % 2 == 0 or int(w) % 2 == 0:
        raise _invalid("new_kernel_shape", spec, "'' (eq. 1) or '<h>x<w>' with odd h, w ≥ 1, e.g. '3x3'")
    return int(h), int(w)


def new_kernel_shape(rng: np.random.Generator, params: MutationParams, max_h: int, max_w: int) -> Shape2:
    """The shape of one new kernel on an input allowing at most ``max_h × max_w`` (§III-A, §III-E).

    ``params.new_kernel_shape`` when set (clipped to the limit, staying odd), else eq. 1. With
    ``function_preserving`` and no shape set, new kernels of a new layer are 1×1
    (:func:`new_layer_kernel_shapes`); this function is for the eq. 1 / fixed-shape cases.
    """
    fixed = parse_kernel_shape(params.new_kernel_shape)
    if fixed is not None:
        return min(fixed[0], max_h), min(fixed[1], max_w)
    return sample_kernel_shape(rng, max_h, max_w)


def new_layer_kernel_shapes(
    rng: np.random.Generator, params: MutationParams, n: int, max_h: int, max_w: int
) -> tuple[Shape2, ...]:
    """Shapes of the ``n`` kernels of a new conv layer (new layers and initial layers alike).

    ``params.new_kernel_shape`` when set; else 1×1 with ``function_preserving`` (an identity
    needs only the centre tap; the reference shape of an inserted layer); else eq. 1 each.
    The one place this rule lives (:func:`add_layer`, :func:`ecosim.genome.initial.genome_from_layers`).
    """
    if parse_kernel_shape(params.new_kernel_shape) is None and params.function_preserving:
        return ((1, 1),) * n
    return tuple(new_kernel_shape(rng, params, max_h, max_w) for _ in range(n))


@dataclass(frozen=True)
class MutationParams:
    """Settings of the mutation operators; the ``[mutation]`` config section (§III-D, §III-E, §IV).

    Args:
        init_std (float, default 0.1): standard deviation of new connections (paper §IV).
        function_preserving (bool, default False): initialise new structure so that the offspring
            computes exactly what its parent did, for every mutation where that is possible: a new
            node's outgoing weights and a grown kernel's new tiles are zero; a new conv layer is an
            identity of 1×1 kernels (a ± pair per channel on the signed input image, since
            ReLU(x) − ReLU(−x) = x); a new FC layer is the narrower of an identity on its inputs
            and a ± copy of the next layer (width 2 × the next layer's nodes). Exact with the ReLU
            activation (the default); off by default: the paper draws everything new from N(0, 0.1).
        new_layer_min_nodes (int, default 8): fewest nodes of a new conv or FC layer.
        new_layer_max_nodes (int, default 64): most nodes of a new conv or FC layer (exact
            growth may need more; see :func:`add_layer`).
        resize_dimension (str, default ``"uniform"``): the dimension a kernel or stride resize
            changes: ``"uniform"`` over the feasible dimensions (§III-E, "a randomly selected
            dimension"), or ``"eq1"``, by eq. 1 on the resulting shape (ecosim ≤ 0.2; it favours
            elongating the longer side).
        family_weights (str, default ``""``): ``""`` draws the mutation kind by eqs. 3–6 (paper);
            ``"layer=w,node=w,kernel=w,stride=w"`` gives each family a fixed share (names left
            out weigh 0), split equally over its feasible directions, so the complexification rate
            does not vanish as networks grow (§V's future work; see :func:`mutation_weights`); a
            single kind may be named too, e.g. ``"add_layer=2,remove_layer=0.5"``.
        new_kernel_shape (str, default ``""``): ``""`` draws new kernel shapes by eq. 1 (paper:
            mostly 1×1); ``"3x3"`` (any odd ``<h>x<w>``) starts every new kernel (new layers, new
            nodes, initial layers without shapes) at that shape, clipped to half the input. With
            ``function_preserving`` an inserted layer's identity uses the centre tap, the other
            tiles starting at 0 and learning from there.

    A new layer of either type gets ``clip(floor(mean nodes per layer), new_layer_min_nodes,
    new_layer_max_nodes)`` nodes (:func:`new_layer_nodes`; the reference implementation's rule
    with bounds). On MNIST the minimal genome ``F10`` gives a new layer 10 nodes: ``C10`` or
    ``F10``, like the reference's predefined conv layer of 10 kernels.

    Raises:
        ConfigError: a value out of range, naming the ``mutation.*`` key.
    """

    init_std: float = 0.1
    function_preserving: bool = False
    new_layer_min_nodes: int = 8
    new_layer_max_nodes: int = 64
    resize_dimension: str = "uniform"
    family_weights: str = ""
    new_kernel_shape: str = ""

    def __post_init__(self) -> None:
        if not self.init_std > 0:
            raise _invalid("init_std", self.init_std, "> 0")
        if self.new_layer_min_nodes < 1:
            raise _invalid("new_layer_min_nodes", self.new_layer_min_nodes, "≥ 1")
        if self.new_layer_max_nodes < self.new_layer_min_nodes:
            raise _invalid(
                "new_layer_max_nodes", self.new_layer_max_nodes, f"≥ mutation.new_layer_min_nodes ({self.new_layer_min_nodes})"
            )
        if self.resize_dimension not in RESIZE_DIMENSIONS:
            raise _invalid("resize_dimension", self.resize_dimension, "one of " + ", ".join(RESIZE_DIMENSIONS))
        parse_family_weights(self.family_weights)
        parse_kernel_shape(self.new_kernel_shape)


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


def _replace_layer(genome: Genome, index: int, layer: Layer) -> Genome:
    return genome.replace_layers(genome.layers[:index] + (layer,) + genome.layers[index + 1 :])


def new_layer_nodes(genome: Genome, params: MutationParams = MutationParams()) -> int:
    """Nodes of a new layer, conv or FC: ``clip(floor(µn), new_layer_min_nodes, new_layer_max_nodes)``.

    ``µn`` is the mean number of nodes per layer over every layer of ``genome``, the output layer
    included (§III-D; the reference implementation sizes a new layer of either type with
    ``floor(mean nodes per layer)``).

    >>> new_layer_nodes(Genome.minimal((1, 28, 28), classes=10))
    10
    """
    mean = sum(layer.nodes for layer in genome.layers) / len(genome.layers)
    return int(min(max(int(np.floor(mean)), params.new_layer_min_nodes), params.new_layer_max_nodes))


def feasible_new_strides(genome: Genome, position: int) -> list[Shape2]:
    """Strides a conv layer inserted at layer index ``position`` may take without breaking a constraint.

    ``(sh, sw)`` with ``1 ≤ s ≤`` the input size in each dimension and every later kernel still
    ≤ half of its (now smaller) input (§III-E). The two dimensions constrain independently, so the
    result is the product of the feasible ``sh`` and ``sw``; it always holds ``(1, 1)``.
    """
    geo = genome.geometry()[position]
    probe = ConvLayer(((1, 1),))
    ok: list[list[int]] = []
    for d in (0, 1):
        ok.append([])
        for s in range(1, max_stride(geo.in_size[d]) + 1):
            stride = (s, 1) if d == 0 else (1, s)
            layers = genome.layers[:position] + (ConvLayer(probe.kernels, stride),) + genome.layers[position:]
            if s == 1 or constraint_violation(genome.replace_layers(layers)) is None:
                ok[d].append(s)
    return [(sh, sw) for sh in ok[0] for sw in ok[1]]


# ---- layers -------------------------------------------------------------------------------------


def _signed_input(genome: Genome, index: int) -> bool:
    """Whether layer ``index``'s input can be negative: only the (standardised) image, layer 0's.

    Every later layer reads an activation's output, non-negative with ReLU (the default).
    """
    return index == 0


def _spread_channels(block: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """A next layer's input weights re-mapped onto an identity layer's ``width`` output channels.

    ``block`` is one node's input weights ``(C, ...)``; with ``signed`` the identity layer emits
    the pair ``ReLU(x_c), ReLU(−x_c)`` at channels ``2c, 2c+1`` and the weights become ``w, −w``
    (ReLU(x) − ReLU(−x) = x); otherwise channel ``c`` keeps ``w``. Other channels get 0.

    Shape:
        ``(C, ...)`` → ``(width, ...)``.
    """
    out = np.zeros((width, *block.shape[1:]), dtype=DTYPE)
    c = block.shape[0]
    if signed:
        out[0 : 2 * c : 2] = block
        out[1 : 2 * c : 2] = -block
    else:
        out[:c] = block
    return out


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

    The new layer gets :func:`new_layer_nodes` nodes whatever its type. A conv layer's kernel
    shapes are drawn by eq. 1 within half its input, its stride by eq. 1 among
    :func:`feasible_new_strides`; so the insertion never breaks a constraint. New weights are
    N(0, ``init_std``); the next layer's inputs are matched by channel index (module docstring).

    With ``function_preserving`` the offspring computes exactly what the parent did (ReLU):

    * conv layer: stride 1, 1×1 kernels, the first ``C`` an identity on its ``C`` input channels,
      or ``2C`` as ± pairs on the signed input image (layer 0); ``max(n, C or 2C)`` kernels, those
      beyond the identity drawn N(0, σ) with zero outgoing weights; the next layer's weights are
      re-mapped onto the identity's channels (:func:`_spread_channels`).
    * FC layer on ``F`` inputs before a layer of ``m`` nodes: the narrower of an identity on its
      inputs (``F``, or ``2F`` as ± pairs on the image) and a ± copy of the next layer (``2m``
      nodes computing ``ReLU(z)``, ``ReLU(−z)`` of the next layer's pre-activation ``z``, the next
      layer becoming ``[I, −I]`` with zero bias); ``max(n, that)`` nodes, the extra ones drawn
      with zero outgoing weights. So any ``F`` is exact, and the width may exceed
      ``new_layer_max_nodes``.

    Args:
        genome, weights: the parent (not modified).
        rng: the mutation stream.
        params: :class:`MutationParams`.
        layer_type: ``"conv"`` or ``"dense"``; drawn 50/50 when ``None``.
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
        layer_type = "conv" if rng.random() < 0.5 else "dense"
    n_conv, n_hidden = genome.n_conv, len(genome.hidden_layers)
    geos = genome.geometry()
    fp = params.function_preserving
    std = params.init_std
    n = new_layer_nodes(genome, params)
    layers = [_copy_layer(lw) for lw in weights.layers]
    if layer_type == "conv":
        p = int(rng.integers(n_conv + 1)) if position is None else position
        if not 0 <= p <= n_conv:
            raise MutationRejected(kind.value, f"conv position {p} outside 0..{n_conv}")
        geo = geos[p]
        c, (h_in, w_in) = geo.in_channels, geo.in_size
        signed = _signed_input(genome, p)
        ident = 2 * c if signed else c
        kmax = (max_kernel_size(h_in), max_kernel_size(w_in))
        if fp:
            n = max(n, ident)
            kernels: tuple[Shape2, ...] = new_layer_kernel_shapes(rng, params, n, *kmax)
            stride: Shape2 = (1, 1)
        else:
            kernels = new_layer_kernel_shapes(rng, params, n, *kmax)
            stride = eq1_choice(rng, feasible_new_strides(genome, p))
        new_genome = genome.replace_layers(genome.layers[:p] + (ConvLayer(kernels, stride),) + genome.layers[p:])
        _check(kind, new_genome)
        nodes = []
        for j, (h, w) in enumerate(kernels):
            if fp and j < ident:  # identity: the centre tap only, other tiles 0
                k = np.zeros((c, h, w), dtype=DTYPE)
                k[j // 2 if signed else j, h // 2, w // 2] = -1.0 if signed and j % 2 else 1.0
                nodes.append(k)
            else:
                nodes.append(draw(rng, (c, h, w), std))
        layers.insert(p, LayerWeights(tuple(nodes), draw(rng, (n,), std, fp)))
        if fp:  # the next layer reads the identity's channels (same spatial size: stride 1)
            nxt = layers[p + 1]
            layers[p + 1] = LayerWeights(tuple(_spread_channels(v, n, signed) for v in nxt.nodes), nxt.bias.copy())
        # otherwise the next layer's inputs are matched by channel index (_conform), new ones drawn
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
    if fp:
        signed = _signed_input(genome, idx)
        ident = 2 * f_in if signed else f_in
        split = 2 * genome.layers[idx].nodes
        exact = min(ident, split)
        width = max(n, exact)
        new_genome = genome.replace_layers(genome.layers[:idx] + (DenseLayer(width),) + genome.layers[idx:])
        if ident <= split:  # identity on the inputs; the next layer re-mapped onto it
            flat = [v.reshape(f_in) for v in nxt.nodes]
            new_nodes = []
            for j in range(width):
                v = np.zeros(f_in, dtype=DTYPE)
                if j < ident:
                    v[j // 2 if signed else j] = -1.0 if signed and j % 2 else 1.0
                    new_nodes.append(v.reshape(in_shape))
                else:
                    new_nodes.append(draw(rng, in_shape, std))
            new_bias = np.zeros(width, dtype=DTYPE)
            nxt_nodes = tuple(_spread_channels(v, width, signed).reshape(width, 1, 1) for v in flat)
            nxt_bias = nxt.bias.copy()
        else:  # ± copy of the next layer: ReLU(z) − ReLU(−z) = z
            copies: list[np.ndarray] = []
            bias: list[float] = []
            for v, b in zip(nxt.nodes, nxt.bias):
                copies += [v.copy(), -v]
                bias += [float(b), -float(b)]
            new_nodes = copies + [draw(rng, in_shape, std) for _ in range(width - split)]
            new_bias = np.concatenate([np.asarray(bias, dtype=DTYPE), draw(rng, (width - split,), std)])
            rows = []
            for i in range(len(nxt.nodes)):
                r = np.zeros((width, 1, 1), dtype=DTYPE)
                r[2 * i], r[2 * i + 1] = 1.0, -1.0
                rows.append(r)
            nxt_nodes, nxt_bias = tuple(rows), np.zeros_like(nxt.bias)
        _check(kind, new_genome)
        layers[idx] = LayerWeights(nxt_nodes, nxt_bias)
        layers.insert(idx, LayerWeights(tuple(new_nodes), new_bias.astype(DTYPE)))
        return new_genome, _conform(new_genome, layers, rng, params)
    width = n
    new_genome = genome.replace_layers(genome.layers[:idx] + (DenseLayer(width),) + genome.layers[idx:])
    _check(kind, new_genome)
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
        shape = new_kernel_shape(rng, params, max_kernel_size(geo.in_size[0]), max_kernel_size(geo.in_size[1]))
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

#: What each resize kind changes and by how much (§III-E): kernels by 2 (they stay odd), strides by 1.
_RESIZE: dict[MutationKind, tuple[str, int]] = {
    MutationKind.GROW_KERNEL: ("kernel", 2),
    MutationKind.SHRINK_KERNEL: ("kernel", -2),
    MutationKind.GROW_STRIDE: ("stride", 1),
    MutationKind.SHRINK_STRIDE: ("stride", -1),
}


@dataclass(frozen=True)
class ResizeTarget:
    """One feasible target of a kernel or stride mutation.

    Attributes:
        layer: index of the conv layer in ``Genome.layers``.
        node: kernel index for kernel mutations; ``None`` for stride mutations.
        options: ``(dim, new_size)`` pairs, ``dim`` 0 = height, 1 = width, each keeping every
            constraint (§III-E); never empty.
    """

    layer: int
    node: int | None
    options: tuple[tuple[int, Shape2], ...]


def resize_targets(genome: Genome, kind: MutationKind) -> list[ResizeTarget]:
    """Every feasible target of a kernel or stride mutation ``kind`` on ``genome`` (§III-E).

    A kernel ``(h, w)`` may grow or shrink by 2 in a dimension if the result stays in
    ``1..max_kernel_size(input)``; a stride by 1 if it stays in ``1..input size`` and every later
    kernel stays ≤ half of its new input. Kernel targets are listed per kernel, stride targets
    per layer, in layer (then kernel) order.

    Raises:
        ValueError: ``kind`` is not a kernel or stride mutation.

    >>> g = Genome((1, 4, 4), (ConvLayer(((1, 1), (1, 1))), DenseLayer(10)))
    >>> resize_targets(g, MutationKind.GROW_KERNEL)  # at most 1×1 on a 4×4 map
    []
    >>> [t.options for t in resize_targets(g, MutationKind.GROW_STRIDE)]
    [((0, (2, 1)), (1, (1, 2)))]
    """
    if kind not in _RESIZE:
        raise ValueError(f"kind must be a kernel or stride mutation, got {kind!r}")
    what, delta = _RESIZE[kind]
    targets: list[ResizeTarget] = []
    for geo, layer in zip(genome.geometry(), genome.layers):
        if not isinstance(layer, ConvLayer):
            continue
        i = geo.index
        if what == "kernel":
            limit = (max_kernel_size(geo.in_size[0]), max_kernel_size(geo.in_size[1]))
            for j, shape in enumerate(layer.kernels):
                options = _steps(shape, delta, limit)
                if options:
                    targets.append(ResizeTarget(i, j, options))
        else:
            limit = (max_stride(geo.in_size[0]), max_stride(geo.in_size[1]))
            options = tuple(
                (d, st)
                for d, st in _steps(layer.stride, delta, limit)
                if constraint_violation(_replace_layer(genome, i, ConvLayer(layer.kernels, st))) is None
            )
            if options:
                targets.append(ResizeTarget(i, None, options))
    return targets


def _steps(size: Shape2, delta: int, limit: Shape2) -> tuple[tuple[int, Shape2], ...]:
    """``(dim, size with dim changed by delta)`` for each dim where the result stays in ``1..limit``."""
    out = []
    for d in (0, 1):
        new = [size[0], size[1]]
        new[d] += delta
        if 1 <= new[d] <= limit[d]:
            out.append((d, (new[0], new[1])))
    return tuple(out)


def _no_target(kind: MutationKind, genome: Genome, layer: int | None, node: int | None, dim: int | None) -> str:
    """Why ``kind`` has no feasible target among those selected, in words."""
    what, delta = _RESIZE[kind]
    conv_idx = [i for i, l in enumerate(genome.layers) if isinstance(l, ConvLayer)]
    if not conv_idx:
        return "the genome has no conv layer"
    if layer is not None and layer not in conv_idx:
        return f"layer {layer} is not a conv layer"
    if layer is not None and node is not None:
        conv = genome.layers[layer]
        assert isinstance(conv, ConvLayer)
        if not 0 <= node < conv.nodes:
            return f"kernel {node} outside 0..{conv.nodes - 1}"
    which = f"layer {layer}" if layer is not None else "every conv layer"
    which += f" kernel {node}" if node is not None else ""
    which += f" dimension {dim}" if dim is not None else ""
    bound = "1" if delta < 0 else ("half its input" if what == "kernel" else "its input size, later kernels ≤ half their input")
    return f"no {what} of {which} can {'grow' if delta > 0 else 'shrink'}: each is at its bound ({bound})"


def _resize(
    kind: MutationKind,
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams,
    layer: int | None,
    node: int | None,
    dim: int | None,
) -> tuple[Genome, Weights]:
    """Grow or shrink one kernel or one stride, drawn uniformly among the feasible targets (§III-E).

    The dimension is uniform among the target's feasible dimensions (``resize_dimension="uniform"``,
    the paper's "randomly selected dimension") or drawn by eq. 1 on the resulting shape (``"eq1"``).
    """
    what, _ = _RESIZE[kind]
    targets = [
        t
        for t in resize_targets(genome, kind)
        if (layer is None or t.layer == layer) and (node is None or t.node == node)
    ]
    if dim is not None:
        targets = [
            ResizeTarget(t.layer, t.node, tuple(o for o in t.options if o[0] == dim))
            for t in targets
            if any(o[0] == dim for o in t.options)
        ]
    if not targets:
        raise MutationRejected(kind.value, _no_target(kind, genome, layer, node, dim))
    target = targets[int(rng.integers(len(targets)))]
    if params.resize_dimension == "eq1":
        new = eq1_choice(rng, [o[1] for o in target.options])
    else:  # §III-E: "a randomly selected dimension", uniform over the feasible ones
        new = target.options[int(rng.integers(len(target.options)))][1]
    conv = genome.layers[target.layer]
    assert isinstance(conv, ConvLayer)
    layers = [_copy_layer(lw) for lw in weights.layers]
    if what == "stride":
        new_genome = _replace_layer(genome, target.layer, ConvLayer(conv.kernels, new))
        _check(kind, new_genome)
        return new_genome, _conform(new_genome, layers, rng, params)
    j = target.node
    assert j is not None
    kernels = list(conv.kernels)
    (h, w), (nh, nw) = kernels[j], new
    kernels[j] = new
    new_genome = _replace_layer(genome, target.layer, ConvLayer(tuple(kernels), conv.stride))
    _check(kind, new_genome)
    old = weights.layers[target.layer].nodes[j]
    if nh > h or nw > w:  # grow: the old kernel stays in the centre, the new border is drawn
        grown = draw(rng, (old.shape[0], nh, nw), params.init_std, params.function_preserving)
        top, left = (nh - h) // 2, (nw - w) // 2
        grown[:, top : top + h, left : left + w] = old
        kernel = grown
    else:  # shrink: keep the central tiles
        top, left = (h - nh) // 2, (w - nw) // 2
        kernel = old[:, top : top + nh, left : left + nw].copy()
    lw = layers[target.layer]
    layers[target.layer] = LayerWeights(lw.nodes[:j] + (kernel,) + lw.nodes[j + 1 :], lw.bias)
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

    The kernel is uniform over the kernels that can grow (:func:`resize_targets`; restricted to
    ``layer`` / ``node`` when given); the dimension (0 = height, 1 = width) is uniform among those
    that stay ≤ half the layer's input (§III-E; ``resize_dimension="eq1"``: by eq. 1 on the
    resulting shape). New border tiles:
    N(0, σ), zeros with ``function_preserving``. Padding follows the largest kernel, so no other
    layer changes.

    Raises:
        MutationRejected: no conv layer, or no selected kernel can grow in an allowed dimension.

    Shape:
        kernel ``(C_in, h, w)`` → ``(C_in, h+2, w)`` or ``(C_in, h, w+2)``; layer output unchanged.
    """
    return _resize(MutationKind.GROW_KERNEL, genome, weights, rng, params, layer, node, dim)


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

    The kernel is uniform over the kernels larger than 1 in some dimension.

    Raises:
        MutationRejected: no conv layer, or every selected kernel is 1 in every allowed dimension.

    Shape:
        kernel ``(C_in, h, w)`` → ``(C_in, h−2, w)`` or ``(C_in, h, w−2)``; layer output unchanged.
    """
    return _resize(MutationKind.SHRINK_KERNEL, genome, weights, rng, params, layer, node, dim)


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

    The layer is uniform over those whose stride can grow without exceeding the input size or
    making a later kernel larger than half its new input. The map feeding the first FC layer
    shrinks: its input weights are area-resampled.

    Raises:
        MutationRejected: no conv layer, or no selected stride can grow.

    Shape:
        layer output ``(C, ceil(H/sh), ceil(W/sw))`` with the new stride.
    """
    return _resize(MutationKind.GROW_STRIDE, genome, weights, rng, params, layer, None, dim)


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
        MutationRejected: no conv layer, or every selected stride is already 1.

    Shape:
        layer output ``(C, ceil(H/sh), ceil(W/sw))`` with the new stride.
    """
    return _resize(MutationKind.SHRINK_STRIDE, genome, weights, rng, params, layer, None, dim)


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


def has_target(genome: Genome, kind: MutationKind) -> bool:
    """Whether mutation ``kind`` has at least one feasible target on ``genome`` (§III-D, §III-E).

    Adding a layer is always feasible (its stride is drawn among :func:`feasible_new_strides`);
    removing a layer or adding a node needs a conv or hidden FC layer; removing a node needs such
    a layer with two or more nodes; kernel and stride mutations need a :func:`resize_targets` entry.
    """
    modifiable = _modifiable(genome)
    if kind is MutationKind.ADD_LAYER:
        return True
    if kind in (MutationKind.REMOVE_LAYER, MutationKind.ADD_NODE):
        return bool(modifiable)
    if kind is MutationKind.REMOVE_NODE:
        return any(genome.layers[i].nodes >= 2 for i in modifiable)
    return bool(resize_targets(genome, kind))


def mutation_weights(
    genome: Genome, kinds: Collection[MutationKind] | None = None, params: MutationParams = MutationParams()
) -> dict[MutationKind, float]:
    """Probability of each mutation kind for ``genome``, from eqs. 3–6 (§III-D) or fixed family weights.

    With ``µc`` the mean connections per node, ``µn, σn`` mean and standard deviation of nodes
    per layer, ``Ncl`` conv layers, ``µo`` mean output units (C·H·W) per conv layer, ``Nk`` mean
    kernels per conv layer and ``Ak`` mean kernel area:

        p_layer ∝ 1 / (µc (µn + σn))    (eq. 3)     p_node ∝ 1 / µc     (eq. 4)
        p_stride ∝ 1 / (Ncl µo)         (eq. 5)     p_kernel ∝ 1 / (Nk Ak)  (eq. 6)

    Each weight is shared equally by its two directions (add/remove, grow/shrink); a direction
    without a feasible target (:func:`has_target`: e.g. growing kernels that are all at half their
    input, removing a node from single-node layers) gets 0, and so does every kind outside
    ``kinds`` when given.

    With ``params.family_weights`` set (e.g. ``"layer=1,node=1,kernel=1,stride=0.25"``), each
    family's weight is that fixed number (when no weighted kind has a feasible target on
    ``genome``, e.g. ``"kernel=1"`` on a genome without conv layer, eqs. 3–6 decide instead) (:data:`FAMILIES`; an issue-17 lever beyond the
    paper, off by default): eqs. 3–6 give add_layer ≈ 0.05% of a conv champion's mutations once a
    conv layer feeds a large FC layer (µc is then large), so depth is almost never proposed; fixed
    weights keep the complexification rate from vanishing as the network grows.

    ``Nk`` is the mean number of kernels per conv layer as eq. 6 defines it; the paper's footnote 3
    says its experiments used the mean node count of all layers instead (``docs/design.md``).

    Args:
        genome: the network to mutate; all statistics are its own.
        kinds: restrict the draw to these kinds (default: all eight).
        params: :class:`MutationParams` (only ``family_weights`` is read).

    Returns:
        ``{kind: probability}`` over all eight kinds, summing to 1 (adding a layer is always
        feasible, so some kind in ``kinds`` has weight > 0 whenever ``ADD_LAYER`` is in it).

    Raises:
        ValueError: no kind in ``kinds`` has a feasible target.
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
    base = {
        MutationKind.ADD_LAYER: p_layer,
        MutationKind.REMOVE_LAYER: p_layer,
        MutationKind.ADD_NODE: p_node,
        MutationKind.REMOVE_NODE: p_node,
        MutationKind.GROW_KERNEL: p_kernel,
        MutationKind.SHRINK_KERNEL: p_kernel,
        MutationKind.GROW_STRIDE: p_stride,
        MutationKind.SHRINK_STRIDE: p_stride,
    }
    fixed = parse_family_weights(params.family_weights)
    allowed = set(MutationKind) if kinds is None else set(kinds)
    if fixed is None:
        w = {k: (v / 2 if k in allowed and v > 0 and has_target(genome, k) else 0.0) for k, v in base.items()}
    else:
        w = {k: (v if k in allowed and v > 0 and has_target(genome, k) else 0.0) for k, v in fixed.items()}
        for name in _families_named(params.family_weights):  # a family's share goes whole to a feasible direction
            a, b = FAMILIES[name]
            if (w[a] > 0) != (w[b] > 0):
                w[a], w[b] = (w[a] + fixed[b], 0.0) if w[a] > 0 else (0.0, w[b] + fixed[a])
    total = sum(w.values())
    if total <= 0 and fixed is not None:  # no weighted kind fits this genome (e.g. "kernel=1" on F10): eqs. 3–6
        return mutation_weights(genome, kinds)
    if total <= 0:
        raise ValueError(f"no mutation kind among {sorted(k.value for k in allowed)} has a feasible target")
    return {k: v / total for k, v in w.items()}


def mutate(
    genome: Genome,
    weights: Weights,
    rng: np.random.Generator,
    params: MutationParams = MutationParams(),
    *,
    kind: MutationKind | None = None,
    kinds: Collection[MutationKind] | None = None,
) -> MutationResult:
    """Draw a mutation kind by eqs. 3–6 or ``params.family_weights`` (or use ``kind``) and apply it (§III-D).

    Args:
        genome, weights: the parent (not modified).
        rng: the mutation stream.
        params: :class:`MutationParams`.
        kind: apply this kind instead of drawing one.
        kinds: draw only among these kinds (e.g. :data:`SPECIES_KINDS`), weights renormalised.

    Returns:
        :class:`MutationResult`; a rejected mutation comes back with ``ok=False`` and its reason
        (the paper's "failed structural mutation"), never as an exception. A drawn kind always has
        a feasible target, so only an explicit ``kind`` or a constraint the operator meets while
        building (never, for a valid parent) gives ``ok=False``.

    Raises:
        ValueError: no kind in ``kinds`` has a feasible target.
    """
    if kind is None:
        probs = mutation_weights(genome, kinds, params)
        order = list(probs)
        kind = order[int(rng.choice(len(order), p=np.array([probs[k] for k in order])))]
    try:
        g, w = OPERATORS[kind](genome, weights, rng, params)
    except MutationRejected as exc:
        return MutationResult(kind, False, reason=exc.reason)
    return MutationResult(kind, True, g, w)


__all__ = [
    "FAMILIES",
    "OPERATORS",
    "RESIZE_DIMENSIONS",
    "SPECIES_KINDS",
    "MutationKind",
    "MutationParams",
    "MutationResult",
    "ResizeTarget",
    "add_layer",
    "add_node",
    "feasible_new_strides",
    "grow_kernel",
    "grow_stride",
    "has_target",
    "mutate",
    "mutation_weights",
    "new_kernel_shape",
    "new_layer_kernel_shapes",
    "new_layer_nodes",
    "parse_family_weights",
    "parse_kernel_shape",
    "remove_layer",
    "remove_node",
    "resize_targets",
    "shrink_kernel",
    "shrink_stride",
]
