"""Compute cost of a network read from its genome alone: multiply-accumulates per image.

Used to compare evolution with fixed baselines at equal compute (issue 17) and to predict a
training task's cost for scheduling (issue 18). The count is the genome's own (each kernel's own
``h × w`` area, §III-E), not what a particular torch layout executes (a masked dense conv also
multiplies the zero tiles of smaller kernels).
"""

from __future__ import annotations

from ecosim.genome.genome import ConvLayer, Genome

#: Training costs about three forward passes per image (forward, input gradients, weight
#: gradients): the usual estimate for backprop (e.g. Kaplan et al. 2020, "6N per token" = 3 × 2N).
TRAINING_MAC_FACTOR = 3


def multiply_accumulates(genome: Genome) -> int:
    """Forward multiply-accumulates for one image through ``genome``'s phenotype.

    A conv kernel of shape ``(h, w)`` on ``C_in`` input channels costs ``C_in·h·w`` MACs per
    output tile, over ``H_out × W_out`` tiles; an FC node costs ``F_in`` MACs. Biases,
    activations and the softmax are not counted.

    Args:
        genome: the network.

    Returns:
        MACs per image (an ``int`` ≥ 0).

    Shape:
        input ``(C, H, W)``; conv layer ``l``: ``Σ_j C_l·h_j·w_j · H_out·W_out``; FC: ``nodes·F_in``.

    >>> from ecosim.genome.genome import DenseLayer
    >>> multiply_accumulates(Genome((1, 28, 28), (DenseLayer(10),)))
    7840
    >>> multiply_accumulates(Genome((1, 4, 4), (ConvLayer(((1, 1), (3, 1))), DenseLayer(10))))
    384
    """
    total = 0
    for geo, layer in zip(genome.geometry(), genome.layers):
        if isinstance(layer, ConvLayer):
            tiles = geo.out_size[0] * geo.out_size[1]
            total += sum(geo.in_channels * h * w for h, w in layer.kernels) * tiles
        else:
            total += layer.nodes * geo.in_features
    return total


def training_macs(genome: Genome, images: int) -> int:
    """Multiply-accumulates to train ``genome`` on ``images`` images (one pass, forward + backward).

    Args:
        genome: the network.
        images: training images seen (samples, not batches).

    Returns:
        ``TRAINING_MAC_FACTOR × multiply_accumulates(genome) × images``.
    """
    return TRAINING_MAC_FACTOR * multiply_accumulates(genome) * images


__all__ = ["TRAINING_MAC_FACTOR", "multiply_accumulates", "training_macs"]
