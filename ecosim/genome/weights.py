"""Weights of a genotype, stored per gene (a node with all its input weights), as numpy arrays.

Paper §II-B, §III-F: a gene is one node with all its input connections; genes are what
crossover transfers and what mutation leaves untouched. Pure numpy: no torch, no Ray.

Layout, for layer ``l`` with geometry ``g`` (see :meth:`Genome.geometry`):

* conv node: ``(C_in, h, w)`` float32 kernel of its own shape, plus one bias;
* FC node: ``(C_in, H_in, W_in)`` float32, its input viewed as the (channel-major) map that
  feeds it; ``(F_in, 1, 1)`` after another FC layer. Flattening gives the ``nn.Linear`` row.

Arrays are treated as immutable: operators always build new arrays (no storage is shared
between a parent and its offspring).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ecosim.errors import GenomeError
from ecosim.genome.genome import ConvLayer, Genome

DTYPE = np.float32


@dataclass(frozen=True)
class LayerWeights:
    """Genes of one layer.

    Attributes:
        nodes: one array per node: conv ``(C_in, h, w)``; FC ``(C_in, H_in, W_in)``.
        bias: ``(nodes,)`` float32.
    """

    nodes: tuple[np.ndarray, ...]
    bias: np.ndarray

    def __len__(self) -> int:
        return len(self.nodes)

    def copy(self) -> LayerWeights:
        """A copy that shares no array with this one (operators never change their inputs)."""
        return LayerWeights(tuple(n.copy() for n in self.nodes), self.bias.copy())


@dataclass(frozen=True)
class Weights:
    """Weights of every layer of a genome, in layer order (one :class:`LayerWeights` each)."""

    layers: tuple[LayerWeights, ...]

    def arrays(self) -> Iterator[np.ndarray]:
        """Every array (node weights and biases), in a fixed order."""
        for lw in self.layers:
            yield from lw.nodes
            yield lw.bias

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` for tensor files (safetensors): ``l{i}.n{j}`` and ``l{i}.bias``."""
        out: dict[str, np.ndarray] = {}
        for i, lw in enumerate(self.layers):
            for j, node in enumerate(lw.nodes):
                out[f"l{i}.n{j}"] = node
            out[f"l{i}.bias"] = lw.bias
        return out

    @classmethod
    def from_arrays(cls, genome: Genome, arrays: dict[str, np.ndarray]) -> Weights:
        """Inverse of :meth:`to_arrays`, checked against ``genome``.

        Raises:
            GenomeError: a missing array or a shape that does not match the genome.
        """
        layers = []
        try:
            for i, layer in enumerate(genome.layers):
                nodes = tuple(np.asarray(arrays[f"l{i}.n{j}"], dtype=DTYPE) for j in range(layer.nodes))
                layers.append(LayerWeights(nodes, np.asarray(arrays[f"l{i}.bias"], dtype=DTYPE)))
        except KeyError as exc:
            raise GenomeError(f"weights lack array {exc.args[0]!r} required by the genome") from exc
        weights = cls(tuple(layers))
        check_weights(genome, weights)
        return weights

    def copy(self) -> Weights:
        """Deep copy (new storage for every array)."""
        return Weights(tuple(LayerWeights(tuple(n.copy() for n in lw.nodes), lw.bias.copy()) for lw in self.layers))


def node_input_shape(genome: Genome, layer_index: int, node_index: int) -> tuple[int, int, int]:
    """Expected array shape of one gene: conv ``(C_in, h, w)``, FC ``(C_in, H_in, W_in)``."""
    geo = genome.geometry()[layer_index]
    layer = genome.layers[layer_index]
    if isinstance(layer, ConvLayer):
        h, w = layer.kernels[node_index]
        return (geo.in_channels, h, w)
    return (geo.in_channels, geo.in_size[0], geo.in_size[1])


def check_weights(genome: Genome, weights: Weights) -> None:
    """Check that ``weights`` fit ``genome`` gene by gene.

    Raises:
        GenomeError: naming the first layer/node whose shape or count differs.
    """
    if len(weights.layers) != len(genome.layers):
        raise GenomeError(f"weights have {len(weights.layers)} layers, genome has {len(genome.layers)}")
    for geo, layer, lw in zip(genome.geometry(), genome.layers, weights.layers):
        if len(lw.nodes) != layer.nodes or lw.bias.shape != (layer.nodes,):
            raise GenomeError(
                f"layer {geo.index}: weights have {len(lw.nodes)} nodes / bias {lw.bias.shape}, genome has "
                f"{layer.nodes}"
            )
        for j, node in enumerate(lw.nodes):
            expected = node_input_shape(genome, geo.index, j)
            if node.shape != expected:
                raise GenomeError(f"layer {geo.index} node {j}: weight shape {node.shape}, expected {expected}")


def draw(rng: np.random.Generator, shape: Sequence[int], std: float, zero: bool = False) -> np.ndarray:
    """New connections: N(0, ``std``) float32 (paper §IV, std 0.1), or zeros if ``zero``."""
    if zero:
        return np.zeros(tuple(shape), dtype=DTYPE)
    return rng.normal(0.0, std, size=tuple(shape)).astype(DTYPE)


def init_weights(genome: Genome, rng: np.random.Generator, std: float = 0.1) -> Weights:
    """Fresh weights for ``genome``: every connection and bias from N(0, ``std``) (paper §IV).

    Returns:
        :class:`Weights` matching :func:`check_weights`.
    """
    layers = []
    for i, layer in enumerate(genome.layers):
        nodes = tuple(draw(rng, node_input_shape(genome, i, j), std) for j in range(layer.nodes))
        layers.append(LayerWeights(nodes, draw(rng, (layer.nodes,), std)))
    return Weights(tuple(layers))


# ---- input adaptation rules (forced downstream changes) ------------------------------------


def resample_area(block: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample the spatial axes of ``(C, H, W)`` to ``(C, H', W')``, conserving each channel's sum.

    Each axis is resampled by integrating the piecewise-constant weights over the new tiles'
    extents (area resampling). Since the per-channel sum is conserved, an FC node fed a
    spatially uniform map has exactly the same pre-activation before and after: the rule used
    when a stride or conv-layer change alters the map feeding the first FC layer.
    """
    out = block.astype(np.float64)
    for axis, new in ((1, size[0]), (2, size[1])):
        old = out.shape[axis]
        if old == new:
            continue
        cum = np.concatenate([np.zeros_like(np.take(out, [0], axis=axis)), np.cumsum(out, axis=axis)], axis=axis)
        edges = np.linspace(0.0, old, new + 1)
        grid = np.arange(old + 1, dtype=np.float64)
        moved = np.moveaxis(cum, axis, -1)
        flat = moved.reshape(-1, old + 1)
        interp = np.stack([np.interp(edges, grid, row) for row in flat]) if flat.size else np.zeros((0, new + 1))
        res = np.diff(interp, axis=-1).reshape(moved.shape[:-1] + (new,))
        out = np.moveaxis(res, -1, axis)
    return out.astype(DTYPE)


def adapt_inputs(
    node: np.ndarray,
    channel_map: Sequence[int | None],
    size: tuple[int, int] | None,
    rng: np.random.Generator,
    std: float,
    zero_new: bool,
) -> np.ndarray:
    """Fit one gene to a changed input: channel ``j`` of the result is source channel ``channel_map[j]``.

    Args:
        node: ``(C_src, h, w)`` gene weights.
        channel_map: for each new input channel, the source channel index, or ``None`` for a new
            channel (drawn N(0, std), or zeros if ``zero_new``: the function-preserving choice).
        size: new spatial size for FC genes (area resampling, :func:`resample_area`), or ``None``
            to keep the spatial shape (conv kernels).

    Returns:
        New array ``(len(channel_map), h', w')``; never a view of ``node``.
    """
    c_src, h, w = node.shape
    out = np.empty((len(channel_map), h, w), dtype=DTYPE)
    for j, src in enumerate(channel_map):
        out[j] = node[src] if src is not None and src < c_src else draw(rng, (h, w), std, zero_new)
    if size is not None and (h, w) != tuple(size):
        out = resample_area(out, size)
    return out


def conform_weights(
    genome: Genome, layers: Sequence[LayerWeights], rng: np.random.Generator, std: float, zero_new: bool
) -> Weights:
    """Fit every gene whose input changed shape to ``genome``; others are copied bit-identically.

    Input channels are matched by index (:func:`identity_map`: missing ones drawn N(0, ``std``)
    or zeros if ``zero_new``, surplus ones dropped); FC spatial blocks are area-resampled
    (:func:`resample_area`). Used after every mutation and crossover.

    Returns:
        :class:`Weights` that pass :func:`check_weights` for ``genome``.
    """
    out = []
    for i, (layer, lw) in enumerate(zip(genome.layers, layers)):
        nodes = []
        for j, node in enumerate(lw.nodes):
            want = node_input_shape(genome, i, j)
            if node.shape == want:
                nodes.append(node.copy())
                continue
            size = None if isinstance(layer, ConvLayer) else (want[1], want[2])
            nodes.append(adapt_inputs(node, identity_map(node.shape[0], want[0]), size, rng, std, zero_new))
        out.append(LayerWeights(tuple(nodes), np.asarray(lw.bias, dtype=DTYPE).copy()))
    return Weights(tuple(out))


def identity_map(c_src: int, c_dst: int) -> list[int | None]:
    """Channel map keeping source channels ``0..min-1`` by index and adding new ones after."""
    return [j if j < c_src else None for j in range(c_dst)]


__all__ = [
    "DTYPE",
    "LayerWeights",
    "Weights",
    "adapt_inputs",
    "check_weights",
    "conform_weights",
    "draw",
    "identity_map",
    "init_weights",
    "node_input_shape",
    "resample_area",
]
