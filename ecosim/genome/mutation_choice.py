"""Which mutation to apply: where each kind can act, how likely each is (§III-D/E, eqs. 3–6).

* Feasible targets: an operator draws its target only among those whose change keeps every
  constraint (:func:`resize_targets` for kernels and strides, :func:`feasible_new_strides` for a
  new conv layer, :func:`modifiable_layers` for layers and nodes); :func:`has_target` says
  whether a kind has any on a genome.
* Probabilities: :func:`mutation_weights` gives each kind its weight by eqs. 3–6 (paper) or by
  fixed family weights (``mutation.family_weights``), a kind without a feasible target weighing
  0; :func:`~ecosim.genome.mutation.mutate` draws from them.

Pure numpy: no torch, no Ray.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from ecosim.errors import MutationRejected
from ecosim.genome.genome import (
    ConvLayer,
    Genome,
    Shape2,
    constraint_violation,
    max_kernel_size,
    max_stride,
)
from ecosim.genome.mutation_kinds import FAMILIES, MutationKind
from ecosim.genome.mutation_params import MutationParams, named_families, parse_family_weights

# ---- feasible targets --------------------------------------------------------------------------


def require_valid(kind: MutationKind, genome: Genome) -> None:
    """Check an offspring genome an operator built against every constraint (§III-D/E).

    Raises:
        MutationRejected: the genome breaks a constraint (:func:`~ecosim.genome.genome.constraint_violation`),
            named in the reason; the operator then builds no weights.
    """
    problem = constraint_violation(genome)
    if problem:
        raise MutationRejected(kind.value, problem)


def modifiable_layers(genome: Genome) -> list[int]:
    """Indices of the conv and hidden FC layers, those a layer or node mutation may change.

    The output layer's nodes are the classes, so it is never removed or resized (§III-D).
    """
    return list(range(len(genome.layers) - 1))


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


#: What each resize kind changes and by how much (§III-E): kernels by 2 (they stay odd), strides by 1.
RESIZE_STEPS: dict[MutationKind, tuple[str, int]] = {
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

    >>> from ecosim.genome.genome import DenseLayer
    >>> g = Genome((1, 4, 4), (ConvLayer(((1, 1), (1, 1))), DenseLayer(10)))
    >>> resize_targets(g, MutationKind.GROW_KERNEL)  # at most 1×1 on a 4×4 map
    []
    >>> [t.options for t in resize_targets(g, MutationKind.GROW_STRIDE)]
    [((0, (2, 1)), (1, (1, 2)))]
    """
    if kind not in RESIZE_STEPS:
        raise ValueError(f"kind must be a kernel or stride mutation, got {kind!r}")
    what, delta = RESIZE_STEPS[kind]
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
                if constraint_violation(genome.replace_layer(i, ConvLayer(layer.kernels, st))) is None
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


def no_target_reason(kind: MutationKind, genome: Genome, layer: int | None, node: int | None, dim: int | None) -> str:
    """Why kernel or stride mutation ``kind`` has no feasible target among those selected, in words.

    ``layer``, ``node`` (kernel) and ``dim`` (0 = height, 1 = width) narrow the selection when
    given; the text is a :class:`~ecosim.errors.MutationRejected` reason.
    """
    what, delta = RESIZE_STEPS[kind]
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
    bound = (
        "1"
        if delta < 0
        else ("half its input" if what == "kernel" else "its input size, later kernels ≤ half their input")
    )
    return f"no {what} of {which} can {'grow' if delta > 0 else 'shrink'}: each is at its bound ({bound})"


def has_target(genome: Genome, kind: MutationKind) -> bool:
    """Whether mutation ``kind`` has at least one feasible target on ``genome`` (§III-D, §III-E).

    Adding a layer is always feasible (its stride is drawn among :func:`feasible_new_strides`);
    removing a layer or adding a node needs a conv or hidden FC layer; removing a node needs such
    a layer with two or more nodes; kernel and stride mutations need a :func:`resize_targets` entry.
    """
    modifiable = modifiable_layers(genome)
    if kind is MutationKind.ADD_LAYER:
        return True
    if kind in (MutationKind.REMOVE_LAYER, MutationKind.ADD_NODE):
        return bool(modifiable)
    if kind is MutationKind.REMOVE_NODE:
        return any(genome.layers[i].nodes >= 2 for i in modifiable)
    return bool(resize_targets(genome, kind))


# ---- probabilities of the kinds, eqs. 3–6 -----------------------------------------------------


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
    ``genome``, e.g. ``"kernel=1"`` on a genome without conv layer, eqs. 3–6 decide instead)
    (:data:`~ecosim.genome.mutation_kinds.FAMILIES`; an issue-17 lever beyond the paper, off by
    default): eqs. 3–6 give add_layer ≈ 0.05% of a conv champion's mutations once a conv layer
    feeds a large FC layer (µc is then large), so depth is almost never proposed; fixed weights
    keep the complexification rate from vanishing as the network grows.

    ``Nk`` is the mean number of kernels per conv layer as eq. 6 defines it; the paper's footnote 3
    says its experiments used the mean node count of all layers instead (``docs/design.md``).

    Args:
        genome: the network to mutate; all statistics are its own.
        kinds: restrict the draw to these kinds (default: all eight).
        params: :class:`~ecosim.genome.mutation_params.MutationParams` (only ``family_weights``
            is read).

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
        # a family's share goes whole to its feasible direction
        for name in named_families(params.family_weights):
            a, b = FAMILIES[name]
            if (w[a] > 0) != (w[b] > 0):
                w[a], w[b] = (w[a] + fixed[b], 0.0) if w[a] > 0 else (0.0, w[b] + fixed[a])
    total = sum(w.values())
    if total <= 0 and fixed is not None:  # no weighted kind fits this genome (e.g. "kernel=1" on F10): eqs. 3–6
        return mutation_weights(genome, kinds)
    if total <= 0:
        raise ValueError(f"no mutation kind among {sorted(k.value for k in allowed)} has a feasible target")
    return {k: v / total for k, v in w.items()}


__all__ = [
    "RESIZE_STEPS",
    "ResizeTarget",
    "feasible_new_strides",
    "has_target",
    "modifiable_layers",
    "mutation_weights",
    "no_target_reason",
    "resize_targets",
]
