"""Exact growth: the weights that make an inserted layer compute what the parent did.

With ``mutation.function_preserving`` (an ecosim option beyond the paper, whose §IV draws
everything new from N(0, 0.1)) :func:`~ecosim.genome.mutation.add_layer` builds the new layer
from the functions here, so the offspring's outputs equal its parent's (with ReLU, the default):

* a conv layer is an identity of 1×1 taps (:func:`identity_conv_layer`) and the next layer is
  re-mapped onto its channels (:func:`onto_identity`);
* an FC layer is the narrower of an identity on its inputs and a ± copy of the next layer
  (:func:`exact_dense_layer`).

Where a layer's input can be negative (only the standardised image, :func:`signed_input`), an
identity needs a ± pair per channel, since ReLU(x) − ReLU(−x) = x. The other mutations' exact
forms (zero outgoing weights of a new node, zero tiles of a grown kernel) are one ``zero=True``
draw each and stay with their operators. Pure numpy: no torch, no Ray.
"""

from __future__ import annotations

import numpy as np

from ecosim.genome.genome import Shape2
from ecosim.genome.weights import DTYPE, LayerWeights, draw


def signed_input(index: int) -> bool:
    """Whether layer ``index``'s input can be negative: only the (standardised) image, layer 0's.

    Every later layer reads an activation's output, non-negative with ReLU (the default).
    """
    return index == 0


def identity_width(channels: int, signed: bool) -> int:
    """Nodes an identity on ``channels`` inputs needs: one each, or a ± pair each if ``signed``."""
    return 2 * channels if signed else channels


def spread_channels(block: np.ndarray, width: int, signed: bool) -> np.ndarray:
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


def identity_conv_layer(
    channels: int, kernels: tuple[Shape2, ...], signed: bool, rng: np.random.Generator, std: float
) -> LayerWeights:
    """Weights of a new conv layer whose first :func:`identity_width` kernels are an identity.

    Kernel ``j`` of the identity has one non-zero tap, the centre of input channel ``j`` (or
    ``j // 2``, +1 and −1 alternately, when ``signed``); kernels beyond it are drawn
    N(0, ``std``) and get zero outgoing weights from :func:`onto_identity`. Biases are 0.

    Args:
        channels: ``C``, the layer's input channels.
        kernels: the layer's kernel shapes, at least ``identity_width(C, signed)`` of them.
        signed: the input can be negative (:func:`signed_input`).
        rng: draws the kernels beyond the identity, in order.
        std: their standard deviation (``mutation.init_std``).

    Shape:
        kernel ``j``: ``(C, h_j, w_j)``; bias ``(len(kernels),)``.
    """
    ident = identity_width(channels, signed)
    nodes = []
    for j, (h, w) in enumerate(kernels):
        if j < ident:  # the centre tap only, other tiles 0
            k = np.zeros((channels, h, w), dtype=DTYPE)
            k[j // 2 if signed else j, h // 2, w // 2] = -1.0 if signed and j % 2 else 1.0
            nodes.append(k)
        else:
            nodes.append(draw(rng, (channels, h, w), std))
    return LayerWeights(tuple(nodes), np.zeros(len(kernels), dtype=DTYPE))


def onto_identity(next_layer: LayerWeights, width: int, signed: bool) -> LayerWeights:
    """The next layer's weights re-mapped onto an inserted identity conv layer of ``width`` kernels.

    Each node's input weights go through :func:`spread_channels`; biases are kept. The spatial
    size is unchanged (the identity has stride 1).
    """
    nodes = tuple(spread_channels(v, width, signed) for v in next_layer.nodes)
    return LayerWeights(nodes, next_layer.bias.copy())


def exact_dense_layer(
    next_layer: LayerWeights,
    in_shape: tuple[int, int, int],
    signed: bool,
    nodes: int,
    rng: np.random.Generator,
    std: float,
) -> tuple[LayerWeights, LayerWeights]:
    """Weights of a new FC layer inserted before ``next_layer`` that keep the network's function.

    On ``F = C·H·W`` inputs before a layer of ``m`` nodes, the narrower of

    * an identity on the inputs (``F`` nodes, or ``2F`` as ± pairs when ``signed``), the next
      layer re-mapped onto it (:func:`spread_channels`), and
    * a ± copy of the next layer: ``2m`` nodes computing ``ReLU(z)``, ``ReLU(−z)`` of the next
      layer's pre-activation ``z``, the next layer becoming ``[I, −I]`` with zero bias;

    the identity when both are as narrow. The layer has ``max(nodes, that width)`` nodes; those
    beyond the exact part are drawn N(0, ``std``) from ``rng`` (weights, then, for the ± copy,
    biases) and have zero outgoing weights. So any ``F`` is exact, and the width may exceed
    ``mutation.new_layer_max_nodes``.

    Returns:
        ``(new layer, next layer)`` weights; the new layer's width is ``len(new.nodes)``.

    Shape:
        new node ``in_shape``; next-layer node ``(width, 1, 1)``.
    """
    f_in = int(np.prod(in_shape))
    ident = identity_width(f_in, signed)
    split = 2 * len(next_layer.nodes)
    width = max(nodes, min(ident, split))
    if ident <= split:  # identity on the inputs; the next layer re-mapped onto it
        new_nodes = []
        for j in range(width):
            v = np.zeros(f_in, dtype=DTYPE)
            if j < ident:
                v[j // 2 if signed else j] = -1.0 if signed and j % 2 else 1.0
                new_nodes.append(v.reshape(in_shape))
            else:
                new_nodes.append(draw(rng, in_shape, std))
        new_bias = np.zeros(width, dtype=DTYPE)
        flat = [v.reshape(f_in) for v in next_layer.nodes]
        nxt_nodes = tuple(spread_channels(v, width, signed).reshape(width, 1, 1) for v in flat)
        nxt_bias = next_layer.bias.copy()
    else:  # ± copy of the next layer: ReLU(z) − ReLU(−z) = z
        copies: list[np.ndarray] = []
        bias: list[float] = []
        for v, b in zip(next_layer.nodes, next_layer.bias):
            copies += [v.copy(), -v]
            bias += [float(b), -float(b)]
        new_nodes = copies + [draw(rng, in_shape, std) for _ in range(width - split)]
        new_bias = np.concatenate([np.asarray(bias, dtype=DTYPE), draw(rng, (width - split,), std)])
        rows = []
        for i in range(len(next_layer.nodes)):
            r = np.zeros((width, 1, 1), dtype=DTYPE)
            r[2 * i], r[2 * i + 1] = 1.0, -1.0
            rows.append(r)
        nxt_nodes, nxt_bias = tuple(rows), np.zeros_like(next_layer.bias)
    return LayerWeights(tuple(new_nodes), new_bias.astype(DTYPE)), LayerWeights(nxt_nodes, nxt_bias)


__all__ = [
    "exact_dense_layer",
    "identity_conv_layer",
    "identity_width",
    "onto_identity",
    "signed_input",
    "spread_channels",
]
