"""Hypothesis strategies shared by the test suite.

``genomes()`` draws random valid genomes (paper §III, §III-E constraints): conv layers with
kernels of random odd shapes no larger than :func:`max_kernel_size` of their input, strides up
to :func:`max_stride`, hidden dense layers, and the output layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import assume
from hypothesis import strategies as st

from ecosim.genome.genome import (
    ConvLayer,
    DenseLayer,
    Genome,
    Layer,
    constraint_violation,
    max_kernel_size,
    max_stride,
)

DEFAULT_INPUT_SHAPES: tuple[tuple[int, int, int], ...] = ((1, 28, 28), (3, 32, 32), (1, 7, 9))


def _odd(draw: st.DrawFn, largest: int) -> int:
    """An odd size in ``1..largest`` (largest odd)."""
    return 2 * draw(st.integers(0, (largest - 1) // 2)) + 1


@st.composite
def conv_layers(draw: st.DrawFn, in_size: tuple[int, int], max_kernels: int = 6) -> ConvLayer:
    """A valid :class:`ConvLayer` for an input of spatial size ``in_size``.

    Kernels: 1..``max_kernels``, each odd and ≤ ``max_kernel_size`` per dimension. Strides mix
    small values with the full range up to ``max_stride``.
    """
    kh, kw = max_kernel_size(in_size[0]), max_kernel_size(in_size[1])
    n = draw(st.integers(1, max_kernels))
    kernels = tuple((_odd(draw, kh), _odd(draw, kw)) for _ in range(n))
    sh = draw(st.one_of(st.integers(1, min(2, max_stride(in_size[0]))), st.integers(1, max_stride(in_size[0]))))
    sw = draw(st.one_of(st.integers(1, min(2, max_stride(in_size[1]))), st.integers(1, max_stride(in_size[1]))))
    return ConvLayer(kernels, (sh, sw))


@st.composite
def genomes(
    draw: st.DrawFn,
    input_shapes: Sequence[tuple[int, int, int]] = DEFAULT_INPUT_SHAPES,
    max_conv: int = 3,
    max_kernels: int = 6,
    max_hidden: int = 2,
    max_hidden_nodes: int = 16,
    classes: int = 10,
    min_conv: int = 0,
) -> Genome:
    """A random genome satisfying :func:`constraint_violation`.

    Args:
        input_shapes: ``(C, H, W)`` choices.
        max_conv / min_conv: conv layers drawn in ``min_conv..max_conv``.
        max_kernels: kernels per conv layer, ``1..max_kernels``.
        max_hidden: hidden dense layers, ``0..max_hidden``, each of ``1..max_hidden_nodes`` nodes.
        classes: output nodes.

    Returns:
        A :class:`Genome`.
    """
    shape = draw(st.sampled_from(list(input_shapes)))
    size = (shape[1], shape[2])
    layers: list[Layer] = []
    for _ in range(draw(st.integers(min_conv, max_conv))):
        layer = draw(conv_layers(size, max_kernels))
        layers.append(layer)
        size = layer.output_size(size)
    for _ in range(draw(st.integers(0, max_hidden))):
        layers.append(DenseLayer(draw(st.integers(1, max_hidden_nodes))))
    layers.append(DenseLayer(classes))
    genome = Genome(shape, tuple(layers))
    assume(constraint_violation(genome) is None)
    return genome


__all__ = ["DEFAULT_INPUT_SHAPES", "conv_layers", "genomes"]
