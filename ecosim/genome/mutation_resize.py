"""Kernel and stride mutations (§III-E): grow or shrink one kernel by 2, or one stride by 1, in one dimension.

Operators with the contract of :mod:`ecosim.genome.mutation` (pure functions
``(genome, weights, rng, params, **target) -> (genome, weights)``, inputs untouched, every other gene
inherited bit-identical), collected with the layer and node operators in
:data:`~ecosim.genome.mutation.OPERATORS`. The target is uniform among the feasible ones
(:func:`~ecosim.genome.mutation_choice.resize_targets`); the dimension is the paper's "randomly
selected dimension" (uniform over the feasible ones) or, with ``mutation.resize_dimension = "eq1"``,
drawn by eq. 1 on the resulting shape. A grown kernel keeps its old taps in its centre, a shrunk
one its central taps; padding follows the largest kernel of the layer, so the layer's output size
never changes. A stride change area-resamples the first FC layer's input weights
(:func:`~ecosim.genome.weights.conform_weights`).

Pure numpy: no torch, no Ray.
"""

from __future__ import annotations

import numpy as np

from ecosim.errors import MutationRejected
from ecosim.genome.genome import ConvLayer, Genome
from ecosim.genome.mutation_choice import RESIZE_STEPS, ResizeTarget, no_target_reason, require_valid, resize_targets
from ecosim.genome.mutation_kinds import MutationKind
from ecosim.genome.mutation_params import MutationParams
from ecosim.genome.sampling import eq1_choice
from ecosim.genome.weights import LayerWeights, Weights, conform_weights, draw


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
    what, _ = RESIZE_STEPS[kind]
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
        raise MutationRejected(kind.value, no_target_reason(kind, genome, layer, node, dim))
    target = targets[int(rng.integers(len(targets)))]
    if params.resize_dimension == "eq1":
        new = eq1_choice(rng, [o[1] for o in target.options])
    else:  # §III-E: "a randomly selected dimension", uniform over the feasible ones
        new = target.options[int(rng.integers(len(target.options)))][1]
    conv = genome.layers[target.layer]
    assert isinstance(conv, ConvLayer)
    layers = [lw.copy() for lw in weights.layers]
    if what == "stride":
        new_genome = genome.replace_layer(target.layer, ConvLayer(conv.kernels, new))
        require_valid(kind, new_genome)
        return new_genome, conform_weights(new_genome, layers, rng, params.init_std, params.function_preserving)
    j = target.node
    assert j is not None
    kernels = list(conv.kernels)
    (h, w), (nh, nw) = kernels[j], new
    kernels[j] = new
    new_genome = genome.replace_layer(target.layer, ConvLayer(tuple(kernels), conv.stride))
    require_valid(kind, new_genome)
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
    return new_genome, conform_weights(new_genome, layers, rng, params.init_std, params.function_preserving)


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


__all__ = ["grow_kernel", "grow_stride", "shrink_kernel", "shrink_stride"]
