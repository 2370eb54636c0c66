"""Architecture picture of one network: every layer, and each conv layer's kernels stacked as in Fig. 7.

Paper §III-E, Fig. 7: kernels of one layer have their own odd shapes and are stacked on a line
through their shared central tile. The picture shows the stack from above: one grid of
``h_max × w_max`` tiles per conv layer, the central tile dark, and the outline of each distinct
kernel shape centred on it, so a layer mixing shapes (crosshair pairs ``1×7``/``7×1``, enclosure
pairs ``5×5``/``7×7``, Fig. 8) is visible at a glance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import ConnectionPatch, FancyBboxPatch, Rectangle

from ecosim.genome.genome import ConvLayer, DenseLayer, Genome, Layer
from ecosim.genome.weights import Weights, check_weights
from ecosim.report.show._common import ShowError, shape_counts, text_extent

_SHAPE_COLOURS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
)

#: Font size of the kernel-shape legends, points.
_LEGEND_FONT = 7.0

#: Height of the row of layer drawings, inches.
_DRAWING_HEIGHT = 2.6

_CONV = re.compile(r"^C(\d+)s(\d+)x(\d+)\[([0-9x,]*)\]$")
_DENSE = re.compile(r"^F(\d+)$")


@dataclass(frozen=True)
class LayerInfo:
    """What the architecture picture prints for one layer.

    Attributes:
        index: position in ``Genome.layers``.
        kind: ``"conv"``, ``"hidden"`` (FC) or ``"output"`` (the last FC layer).
        nodes: kernels (conv) or neurons (FC).
        stride: ``(sh, sw)`` for conv, ``None`` for FC.
        in_shape: ``(C, H, W)`` fed to the layer.
        out_shape: ``(C, H, W)`` for conv (``H = ceil(H_in / sh)``), ``(nodes,)`` for FC.
        parameters: weights + biases of the layer (conv: ``Σ C_in·h·w + 1``; FC: ``nodes·(F_in + 1)``).
        shapes: conv only: distinct kernel shapes ``(h, w)`` with counts (:func:`shape_counts`).
    """

    index: int
    kind: str
    nodes: int
    stride: tuple[int, int] | None
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, ...]
    parameters: int
    shapes: tuple[tuple[tuple[int, int], int], ...] = ()


def layer_table(genome: Genome) -> tuple[LayerInfo, ...]:
    """Per-layer nodes, stride, input/output shape and parameter count, in layer order.

    The parameter counts add up to :meth:`Genome.parameter_count`.

    Shape:
        conv: ``(C_in, H, W) → (nodes, ceil(H/sh), ceil(W/sw))``; FC: ``F_in = C·H·W → (nodes,)``.

    >>> from ecosim.genome import DenseLayer, Genome
    >>> layer_table(Genome((1, 28, 28), (DenseLayer(10),)))[0].parameters
    7850
    """
    out = []
    last = len(genome.layers) - 1
    for geo, layer in zip(genome.geometry(), genome.layers):
        in_shape = (geo.in_channels, geo.in_size[0], geo.in_size[1])
        if isinstance(layer, ConvLayer):
            params = sum(geo.in_channels * h * w + 1 for h, w in layer.kernels)
            out.append(
                LayerInfo(
                    geo.index,
                    "conv",
                    layer.nodes,
                    layer.stride,
                    in_shape,
                    (layer.nodes, *geo.out_size),
                    params,
                    tuple(shape_counts(layer.kernels)),
                )
            )
        else:
            kind = "output" if geo.index == last else "hidden"
            out.append(
                LayerInfo(
                    geo.index, kind, layer.nodes, None, in_shape, (layer.nodes,), layer.nodes * (geo.in_features + 1)
                )
            )
    return tuple(out)


def genome_from_summary(summary: str, input_shape: tuple[int, int, int]) -> Genome:
    """Rebuild a genome from its :meth:`Genome.summary` (the networks log ``layers`` column).

    The summary holds every kernel shape, stride and node count; only the input shape is not in
    it (it is the same for every network of a run: take it from the champion).

    Args:
        summary: e.g. ``"C3s2x1[3x3,1x7,7x1]-F16-F10"``.
        input_shape: ``(C, H, W)`` of the run's images.

    Returns:
        The genome whose ``summary()`` is ``summary``.

    Raises:
        ShowError: a part that is neither ``C<n>s<sh>x<sw>[<h>x<w>,...]`` nor ``F<n>``, or a kernel
            count that differs from ``n``. GenomeError: an invalid layer (e.g. an even kernel).

    >>> genome_from_summary("C2s1x1[3x3,1x5]-F10", (1, 28, 28)).summary()
    'C2s1x1[3x3,1x5]-F10'
    """
    layers: list[Layer] = []
    for part in str(summary).split("-"):
        conv, dense = _CONV.match(part), _DENSE.match(part)
        if dense:
            layers.append(DenseLayer(int(dense.group(1))))
        elif conv:
            n, sh, sw, ks = conv.groups()
            kernels = [tuple(int(v) for v in k.split("x")) for k in ks.split(",") if k]
            if len(kernels) != int(n) or any(len(k) != 2 for k in kernels):
                raise ShowError(f"layers summary part {part!r} lists {len(kernels)} kernels for {n} nodes")
            layers.append(ConvLayer(tuple(kernels), (int(sh), int(sw))))  # type: ignore[arg-type]
        else:
            raise ShowError(f"layers summary part {part!r} of {summary!r} is neither C<n>s<sh>x<sw>[...] nor F<n>")
    return Genome(tuple(input_shape), tuple(layers))  # type: ignore[arg-type]


def _header(info: LayerInfo) -> str:
    lines = [f"L{info.index} · {'conv' if info.kind == 'conv' else 'FC ' + info.kind}", f"{info.nodes} nodes"]
    if info.stride is not None:
        lines.append(f"stride {info.stride[0]}×{info.stride[1]}")
    lines.append("out " + str(info.out_shape if len(info.out_shape) > 1 else f"({info.out_shape[0]},)"))
    lines.append(f"{info.parameters:,} params")
    return "\n".join(lines)


def _shape_handles(layer: ConvLayer, info: LayerInfo, weights_nodes=None) -> list[Line2D]:
    """One legend entry per distinct kernel shape, in the colour of its outline."""
    handles = []
    for k, ((h, w), n) in enumerate(info.shapes):
        label = f"{h}×{w} ×{n}"
        if weights_nodes is not None:
            mags = [float(np.mean(np.abs(a))) for a, s in zip(weights_nodes, layer.kernels) if s == (h, w)]
            label += f"  mean|w| {np.mean(mags):.3g}"
        handles.append(Line2D([], [], color=_SHAPE_COLOURS[k % len(_SHAPE_COLOURS)], lw=2.0, label=label))
    return handles


def _draw_stack(ax, layer: ConvLayer, info: LayerInfo) -> None:
    """Fig. 7 from above: the ``h_max × w_max`` grid, dark central tile, one outline per distinct shape."""
    hm, wm = layer.max_kernel
    for r in range(hm):
        for c in range(wm):
            centre = r == hm // 2 and c == wm // 2
            ax.add_patch(
                Rectangle(
                    (c - wm / 2, r - hm / 2),
                    1,
                    1,
                    facecolor="#555555" if centre else "#f2f2f2",
                    edgecolor="#bbbbbb",
                    lw=0.5,
                    zorder=1,
                )
            )
    step = 0.35 / max(hm, wm, 1)  # inset per shape so coinciding edges stay distinguishable
    for k, ((h, w), _) in enumerate(info.shapes):
        inset = min(k * step, 0.3)
        ax.add_patch(
            Rectangle(
                (-w / 2 + inset, -h / 2 + inset),
                w - 2 * inset,
                h - 2 * inset,
                fill=False,
                edgecolor=_SHAPE_COLOURS[k % len(_SHAPE_COLOURS)],
                lw=2.0,
                zorder=3 + k,
            )
        )
    pad = 0.6
    ax.set_xlim(-wm / 2 - pad, wm / 2 + pad)
    ax.set_ylim(hm / 2 + pad, -hm / 2 - pad)
    ax.set_aspect("equal")


def _legend_height(entries: int) -> float:
    """Inches a legend of ``entries`` lines plus a title takes at :data:`_LEGEND_FONT` (matplotlib's spacing)."""
    em = _LEGEND_FONT / 72.0
    return (entries + 1) * 1.7 * em + 1.5 * em


def _wrap_title(summary: str, tail: str, width: float, fontsize: float) -> str:
    """``summary + tail``, broken after the summary's ``-`` or ``,`` so no line is wider than ``width`` inches."""
    lines, line = [], ""
    for token in [*re.split(r"(?<=[-,])", summary), tail]:
        if line and text_extent(line + token, fontsize)[0] > width:
            lines.append(line)
            line = token
        else:
            line += token
    return "\n".join([*lines, line])


def _draw_box(ax, text: str, height: float, colour: str) -> None:
    """An FC layer or the input as a rounded box of relative ``height`` in (0, 1]."""
    ax.add_patch(
        FancyBboxPatch(
            (0.3, 0.5 - height / 2),
            0.4,
            height,
            boxstyle="round,pad=0.02",
            facecolor=colour,
            edgecolor="#333333",
            lw=1.0,
        )
    )
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def architecture_figure(genome: Genome, weights: Weights | None = None) -> Figure:
    """Picture of a genome, left to right: the input, every conv layer, every FC layer (paper §III-E, Fig. 7).

    Each layer's panel is headed by its index and kind, nodes, stride (conv), output shape
    ``(C, H, W)`` (conv; ``(nodes,)`` for FC) and parameter count (weights + biases). A conv
    panel is Fig. 7 seen from above: a grid of the layer's largest kernel extent in tiles
    (``h_max × w_max``), the shared central tile dark, and the outline of each distinct kernel shape
    centred on it (successive shapes slightly inset so coinciding edges stay visible), with a
    legend of shapes ``h×w`` and how many kernels have each in a row below the drawings. FC
    layers and the input are boxes whose height grows with ``log(nodes)``. An MLP (no conv
    layer) shows only boxes. The figure grows with the longest legend and the title wraps at
    ``-``/``,``, so no text is cut off.

    Args:
        genome: the network's architecture.
        weights: optional gene weights; if given, each shape's legend entry also shows the mean
            ``|w|`` of its kernels (a hint of which shapes the training relied on).

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state); save it with
        :func:`ecosim.report.show.save_figure`.

    Raises:
        GenomeError: ``weights`` do not fit ``genome``.

    Shape:
        conv out ``(nodes, ceil(H/sh), ceil(W/sw))``; figure width ≈ 2.4 in per panel, height
        ≈ 4 in + 0.17 in per shape of the layer with most distinct shapes.

    >>> from ecosim.genome import ConvLayer, DenseLayer, Genome
    >>> g = Genome((1, 28, 28), (ConvLayer(((3, 3), (1, 7), (7, 1)), (2, 2)), DenseLayer(10)))
    >>> len(architecture_figure(g).axes)  # input, conv, output and the conv layer's legend of shapes
    4
    """
    if weights is not None:
        check_weights(genome, weights)
    infos = layer_table(genome)
    panels = 1 + len(infos)
    most_shapes = max((len(i.shapes) for i in infos), default=0)
    width = max(4.5, 2.4 * panels)
    summary = genome.summary()
    if len(summary) > 400:
        summary = summary[:397] + "..."
    title = _wrap_title(summary, f"   ({genome.parameter_count():,} parameters)", width - 0.3, 9)
    # rows: titles (suptitle, 5 header lines), the drawings, then a row of shape legends under conv panels
    legend_h = _legend_height(most_shapes) if most_shapes else 0.0
    top = text_extent(title, 9)[1] + text_extent("\n".join("x" * 5), 8)[1] + 0.35
    height = top + _DRAWING_HEIGHT + legend_h + 0.2
    fig = Figure(figsize=(width, height), layout="constrained")
    grid = fig.add_gridspec(
        2 if most_shapes else 1, panels, height_ratios=[_DRAWING_HEIGHT, legend_h] if most_shapes else None
    )
    axes = [fig.add_subplot(grid[0, i]) for i in range(panels)]
    c, h, w = genome.input_shape
    max_log = max(np.log1p(c * h * w), *(np.log1p(i.nodes) for i in infos))
    _draw_box(axes[0], f"{c}×{h}×{w}", 0.2 + 0.7 * np.log1p(c * h * w) / max_log, "#eeeeee")
    axes[0].set_title(f"input\n(C, H, W) = {genome.input_shape}", fontsize=8)
    for i, (ax, info, layer) in enumerate(zip(axes[1:], infos, genome.layers), start=1):
        if isinstance(layer, ConvLayer):
            nodes = weights.layers[info.index].nodes if weights is not None else None
            _draw_stack(ax, layer, info)
            key = fig.add_subplot(grid[1, i])
            key.set_axis_off()
            key.legend(
                handles=_shape_handles(layer, info, nodes),
                loc="upper center",
                bbox_to_anchor=(0.5, 1.0),
                fontsize=_LEGEND_FONT,
                frameon=False,
                title="kernel shapes (h×w)",
                title_fontsize=_LEGEND_FONT,
                borderaxespad=0.0,
            )
        else:
            colour = "#fdd0a2" if info.kind == "output" else "#c6dbef"
            _draw_box(ax, f"{info.nodes}\nnodes", 0.2 + 0.7 * np.log1p(info.nodes) / max_log, colour)
        ax.set_title(_header(info), fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for a, b in zip(axes[:-1], axes[1:]):
        arrow = ConnectionPatch(
            (1.0, 0.5), (0.0, 0.5), coordsA=a.transAxes, coordsB=b.transAxes, arrowstyle="-|>", color="#777777", lw=1.0
        )
        arrow.set_in_layout(False)
        fig.add_artist(arrow)
    fig.suptitle(title, fontsize=9)
    return fig


__all__ = ["LayerInfo", "architecture_figure", "genome_from_summary", "layer_table"]
