"""Genome: an ordered list of layers whose nodes are kernels (conv) or neurons (FC).

Paper §II-B, §III and §III-E. Pure Python: no torch, no Ray.

A genome is ``input_shape`` plus ``layers``: zero or more :class:`ConvLayer`, then zero or
more hidden :class:`DenseLayer`, then the output :class:`DenseLayer` (one node per class).
The minimal genome is the output layer looking directly at the (flattened) input.

Geometry (§III-E): a conv layer pads by ``(max h // 2, max w // 2)`` over its kernels, so
with odd kernels its output is ``ceil(H / sh) × ceil(W / sw)`` whatever the kernel shapes:

    H_out = floor((H + 2 * (h_max // 2) - h_max) / sh) + 1 = ceil(H / sh)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ecosim.errors import GenomeError

SCHEMA_VERSION = 1

Shape2 = tuple[int, int]


@dataclass(frozen=True)
class ConvLayer:
    """A convolutional layer: one kernel per node, each with its own odd shape (paper §III-E).

    Args:
        kernels: one ``(h, w)`` per node, both odd and ≥ 1. Every kernel spans all input channels.
        stride: ``(sh, sw)``, each ≥ 1.

    Shape:
        input ``(N, C_in, H, W)`` → output ``(N, len(kernels), ceil(H/sh), ceil(W/sw))``.

    Raises:
        GenomeError: an even or non-positive kernel size, a stride < 1, or no kernel.
    """

    kernels: tuple[Shape2, ...]
    stride: Shape2 = (1, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernels", tuple((int(h), int(w)) for h, w in self.kernels))
        object.__setattr__(self, "stride", (int(self.stride[0]), int(self.stride[1])))
        if not self.kernels:
            raise GenomeError("ConvLayer.kernels must hold at least one kernel, got none")
        for h, w in self.kernels:
            if h < 1 or w < 1 or h % 2 == 0 or w % 2 == 0:
                raise GenomeError(f"ConvLayer kernel shape must be odd and ≥ 1, got {(h, w)}")
        if self.stride[0] < 1 or self.stride[1] < 1:
            raise GenomeError(f"ConvLayer.stride must be ≥ 1 in each dimension, got {self.stride}")

    @property
    def nodes(self) -> int:
        """Number of nodes (kernels, output channels)."""
        return len(self.kernels)

    @property
    def max_kernel(self) -> Shape2:
        """Largest kernel size per dimension ``(h_max, w_max)``: the stacked weight tensor's shape."""
        return (max(k[0] for k in self.kernels), max(k[1] for k in self.kernels))

    @property
    def padding(self) -> Shape2:
        """``(h_max // 2, w_max // 2)``: half the largest kernel per dimension (§III-E)."""
        hm, wm = self.max_kernel
        return (hm // 2, wm // 2)

    def output_size(self, size: Shape2) -> Shape2:
        """Spatial output size ``(ceil(H/sh), ceil(W/sw))`` for input ``size = (H, W)``."""
        return (-(-size[0] // self.stride[0]), -(-size[1] // self.stride[1]))


@dataclass(frozen=True)
class DenseLayer:
    """A fully connected layer of ``nodes`` neurons (hidden, or the output layer).

    Shape:
        input ``(N, F_in)`` (conv maps are flattened channel-major: ``F_in = C·H·W``) →
        output ``(N, nodes)``.

    Raises:
        GenomeError: ``nodes`` < 1.
    """

    nodes: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", int(self.nodes))
        if self.nodes < 1:
            raise GenomeError(f"DenseLayer.nodes must be ≥ 1, got {self.nodes}")


Layer = ConvLayer | DenseLayer


@dataclass(frozen=True)
class LayerGeometry:
    """What a layer sees and emits, computed from the genome.

    Attributes:
        index: layer position in ``Genome.layers``.
        in_channels: input channels ``C_in`` (conv input, or channels of the flattened map).
        in_size: input spatial size ``(H, W)``; ``(1, 1)`` for an FC layer fed by an FC layer.
        in_features: inputs per node: ``C_in·H·W`` for FC; ``C_in`` (per tile) for conv.
        out_channels: nodes of this layer.
        out_size: output spatial size ``(H_out, W_out)``; ``(1, 1)`` for FC.
    """

    index: int
    in_channels: int
    in_size: Shape2
    in_features: int
    out_channels: int
    out_size: Shape2


@dataclass(frozen=True)
class Genome:
    """An ordered list of layers: convs, then hidden FC layers, then the FC output layer (§III).

    Args:
        input_shape: ``(C, H, W)`` of the images, e.g. ``(1, 28, 28)``.
        layers: conv layers first, then dense layers; the last is the output layer.

    Raises:
        GenomeError: empty layers, a conv after a dense layer, a non-dense output layer, or an
            invalid input shape.

    >>> g = Genome.minimal((1, 28, 28), classes=10)
    >>> g.species_key
    ((), ())
    """

    input_shape: tuple[int, int, int]
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise GenomeError(f"Genome.input_shape must be (C, H, W) with each ≥ 1, got {self.input_shape}")
        if not self.layers or not isinstance(self.layers[-1], DenseLayer):
            raise GenomeError("Genome.layers must end with the output DenseLayer")
        seen_dense = False
        for i, layer in enumerate(self.layers):
            if isinstance(layer, DenseLayer):
                seen_dense = True
            elif isinstance(layer, ConvLayer):
                if seen_dense:
                    raise GenomeError(f"Genome.layers[{i}] is a ConvLayer after a DenseLayer")
            else:
                raise GenomeError(f"Genome.layers[{i}] has unknown type {type(layer).__name__}")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def minimal(cls, input_shape: tuple[int, int, int], classes: int) -> Genome:
        """The minimal genome: the output layer looking directly at the input (§III-A)."""
        return cls(input_shape, (DenseLayer(classes),))

    # ---- structure ----------------------------------------------------------------------
    @property
    def classes(self) -> int:
        """Nodes of the output layer."""
        return self.layers[-1].nodes

    @property
    def conv_layers(self) -> tuple[ConvLayer, ...]:
        """The conv layers, in order."""
        return tuple(l for l in self.layers if isinstance(l, ConvLayer))

    @property
    def hidden_layers(self) -> tuple[DenseLayer, ...]:
        """The hidden FC layers (all dense layers but the output), in order."""
        return tuple(l for l in self.layers[:-1] if isinstance(l, DenseLayer))

    @property
    def n_conv(self) -> int:
        """Number of conv layers."""
        return len(self.conv_layers)

    @property
    def species_key(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Species identity (§III): nodes per conv layer and nodes per hidden FC layer.

        Two genomes are in one species iff they have the same number of layers of each type with
        the same number of nodes in each. Kernel shapes and strides do not enter the key.
        """
        return (
            tuple(l.nodes for l in self.conv_layers),
            tuple(l.nodes for l in self.hidden_layers),
        )

    @property
    def node_count(self) -> int:
        """Total nodes over all layers, output layer included (``N_i`` of eq. 7)."""
        return sum(l.nodes for l in self.layers)

    def geometry(self) -> tuple[LayerGeometry, ...]:
        """Per-layer input/output geometry, in layer order.

        Raises:
            GenomeError: never for a constructed genome (sizes stay ≥ 1 by the ceil formula).
        """
        c, h, w = self.input_shape
        size: Shape2 = (h, w)
        out = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, ConvLayer):
                osize = layer.output_size(size)
                out.append(LayerGeometry(i, c, size, c, layer.nodes, osize))
                c, size = layer.nodes, osize
            else:
                feats = c * size[0] * size[1]
                out.append(LayerGeometry(i, c, size, feats, layer.nodes, (1, 1)))
                c, size = layer.nodes, (1, 1)
        return tuple(out)

    def parameter_count(self) -> int:
        """Trainable parameters of the phenotype: each kernel ``C_in·h·w`` + bias; FC ``F_in`` + bias."""
        total = 0
        for geo, layer in zip(self.geometry(), self.layers):
            if isinstance(layer, ConvLayer):
                total += sum(geo.in_channels * h * w + 1 for h, w in layer.kernels)
            else:
                total += layer.nodes * (geo.in_features + 1)
        return total

    def summary(self) -> str:
        """Compact layer summary, e.g. ``"C4s1x1[3x3,1x1,...]-F16-F10"``."""
        parts = []
        for layer in self.layers:
            if isinstance(layer, ConvLayer):
                ks = ",".join(f"{h}x{w}" for h, w in layer.kernels)
                parts.append(f"C{layer.nodes}s{layer.stride[0]}x{layer.stride[1]}[{ks}]")
            else:
                parts.append(f"F{layer.nodes}")
        return "-".join(parts)

    def replace_layers(self, layers: tuple[Layer, ...] | list[Layer]) -> Genome:
        """A new genome with the same input shape and the given layers."""
        return Genome(self.input_shape, tuple(layers))

    def replace_layer(self, index: int, layer: Layer) -> Genome:
        """A new genome with layer ``index`` replaced by ``layer``."""
        return self.replace_layers(self.layers[:index] + (layer,) + self.layers[index + 1 :])

    # ---- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with ``schema_version`` (round-trips exactly through :meth:`from_dict`)."""
        layers: list[dict[str, Any]] = []
        for layer in self.layers:
            if isinstance(layer, ConvLayer):
                layers.append(
                    {"type": "conv", "kernels": [list(k) for k in layer.kernels], "stride": list(layer.stride)}
                )
            else:
                layers.append({"type": "dense", "nodes": layer.nodes})
        return {"schema_version": SCHEMA_VERSION, "input_shape": list(self.input_shape), "layers": layers}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genome:
        """Inverse of :meth:`to_dict`.

        Raises:
            GenomeError: unknown schema version, unknown layer type or missing keys.
        """
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise GenomeError(f"genome schema_version must be {SCHEMA_VERSION}, got {version!r}")
        try:
            layers: list[Layer] = []
            for spec in data["layers"]:
                if spec["type"] == "conv":
                    layers.append(ConvLayer(tuple(tuple(k) for k in spec["kernels"]), tuple(spec["stride"])))
                elif spec["type"] == "dense":
                    layers.append(DenseLayer(spec["nodes"]))
                else:
                    raise GenomeError(f"genome layer type must be 'conv' or 'dense', got {spec['type']!r}")
            return cls(tuple(data["input_shape"]), tuple(layers))
        except (KeyError, TypeError) as exc:
            raise GenomeError(f"genome JSON is missing or has a malformed field: {exc}") from exc

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Genome:
        """Parse :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))


def max_kernel_size(in_size: int) -> int:
    """Largest odd kernel size allowed on an input of ``in_size`` tiles: odd ≤ in_size / 2, at least 1 (§III-E)."""
    m = in_size // 2
    if m % 2 == 0:
        m -= 1
    return max(1, m)


def max_stride(in_size: int) -> int:
    """Largest stride on an input of ``in_size`` tiles: ``in_size`` (the output is then 1 tile)."""
    return max(1, in_size)


def constraint_violation(genome: Genome) -> str | None:
    """The first violated constraint of ``genome`` in words, or ``None`` if all hold.

    Constraints (§III-E): every kernel ≤ :func:`max_kernel_size` of its layer's input size in
    each dimension; every stride ≤ :func:`max_stride`; feature maps at least 1×1.
    """
    for geo, layer in zip(genome.geometry(), genome.layers):
        if not isinstance(layer, ConvLayer):
            continue
        kh, kw = max_kernel_size(geo.in_size[0]), max_kernel_size(geo.in_size[1])
        for j, (h, w) in enumerate(layer.kernels):
            if h > kh or w > kw:
                return (
                    f"layer {geo.index} kernel {j} of shape {(h, w)} exceeds the largest allowed "
                    f"{(kh, kw)} for input {geo.in_size}"
                )
        if layer.stride[0] > max_stride(geo.in_size[0]) or layer.stride[1] > max_stride(geo.in_size[1]):
            return f"layer {geo.index} stride {layer.stride} exceeds input size {geo.in_size}"
        if min(geo.out_size) < 1:  # unreachable with ceil, kept as the stated invariant
            return f"layer {geo.index} output {geo.out_size} is smaller than 1x1"
    return None


__all__ = [
    "SCHEMA_VERSION",
    "ConvLayer",
    "DenseLayer",
    "Genome",
    "Layer",
    "LayerGeometry",
    "constraint_violation",
    "max_kernel_size",
    "max_stride",
]
