"""Learned kernels of each conv layer as images, one tile per kernel in its own shape (paper §III-E).

The paper leaves "a detailed analysis and visualisation of the kernels in evolved CNNs" to
future work; this picture is the first step: every kernel drawn true to shape, so crosshair
pairs (``1×k`` with ``k×1``, Fig. 8a), enclosure pairs (``5×5`` inside ``7×7``, Fig. 8b) and
small/large context pairs (Fig. 8c) can be looked for by eye.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ecosim.genome.genome import ConvLayer, Genome
from ecosim.genome.weights import Weights, check_weights
from ecosim.report.show._common import ShowError, format_shapes, shape_counts

#: Most tiles per row of a layer's panel.
MAX_COLUMNS = 12


def kernel_image(node: np.ndarray, channel: int | None = None) -> np.ndarray:
    """The 2-D image of one conv gene ``(C_in, h, w)``: the mean over input channels, or one channel.

    Args:
        node: the gene's weights, ``(C_in, h, w)``.
        channel: ``None`` (default) averages the ``C_in`` input channels; an int shows that channel
            only (clipped to ``C_in - 1``, so ``0`` is always valid).

    Returns:
        float64 ``(h, w)``.
    """
    arr = np.asarray(node, dtype=np.float64)
    if channel is None:
        return arr.mean(axis=0)
    return arr[min(int(channel), arr.shape[0] - 1)]


def _empty(genome: Genome) -> Figure:
    fig = Figure(figsize=(6.0, 1.6), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(
        0.5,
        0.5,
        f"no convolutional layers: {genome.summary()} has no kernels to show",
        ha="center",
        va="center",
        fontsize=10,
        wrap=True,
    )
    return fig


def kernels_figure(genome: Genome, weights: Weights, channel: int | None = None, source: str = "") -> Figure:
    """The learned weights of every conv layer as images: one tile per kernel, in its own shape.

    One panel per conv layer (top to bottom). Tiles are in node order, up to
    :data:`MAX_COLUMNS` per row, each centred in a cell of the layer's largest extent
    ``(h_max + 1) × (w_max + 1)`` tiles and drawn true to its shape ``h × w`` (1 tile = 1 weight), with
    its node index above. Each tile is the kernel averaged over its ``C_in`` input channels
    (default) or one input channel (``channel``). Colours: a diverging map centred on 0, one scale
    per layer (``±max |w|`` of that layer's images, shown by the colour bar; units are raw
    weights). Each panel's title counts the shapes (``3×3 ×5, 1×7 ×2``) and says how many layers'
    kernels mix shapes. An MLP (no conv layer) gets a one-panel figure that says so.

    Args:
        genome: the architecture.
        weights: its gene weights (conv genes ``(C_in, h, w)``).
        channel: ``None`` to average input channels (default), or an input-channel index.
        source: which weights these are, added to the title (e.g. ``"after generation 3, fitness 92.6%"``).

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state).

    Raises:
        GenomeError: ``weights`` do not fit ``genome``. ShowError: a negative ``channel``.

    Shape:
        per layer ``ceil(n / 12)`` rows of tiles; figure about 0.28 in per tile.

    >>> from ecosim.genome import ConvLayer, DenseLayer, Genome, init_weights
    >>> import numpy as np
    >>> g = Genome((1, 28, 28), (ConvLayer(((3, 3), (1, 7))), DenseLayer(10)))
    >>> fig = kernels_figure(g, init_weights(g, np.random.default_rng(0)))
    """
    check_weights(genome, weights)
    if channel is not None and int(channel) < 0:
        raise ShowError(f"channel must be None (mean over input channels) or ≥ 0, got {channel}")
    convs = [(i, layer) for i, layer in enumerate(genome.layers) if isinstance(layer, ConvLayer)]
    if not convs:
        return _empty(genome)
    geo = genome.geometry()
    grids = []
    for i, layer in convs:
        hm, wm = layer.max_kernel
        cols = min(layer.nodes, MAX_COLUMNS)
        rows = math.ceil(layer.nodes / cols)
        grids.append((i, layer, hm + 1, wm + 1, cols, rows))
    width = max(5.0, min(24.0, max(g[3] * g[4] for g in grids) * 0.28 + 1.5))
    heights = [g[2] * g[5] for g in grids]
    scale = width / max(g[3] * g[4] for g in grids)
    fig = Figure(figsize=(width, min(60.0, sum(h * scale for h in heights) + 0.9 * len(grids))), layout="constrained")
    axes = fig.subplots(len(grids), 1, squeeze=False, height_ratios=heights).ravel()
    mixed = sum(len(set(layer.kernels)) > 1 for _, layer in convs)
    for ax, (i, layer, ch, cw, cols, rows) in zip(axes, grids):
        images = [kernel_image(node, channel) for node in weights.layers[i].nodes]
        vmax = max(float(np.max(np.abs(im))) for im in images) or 1.0
        image = None
        for j, (im, (h, w)) in enumerate(zip(images, layer.kernels)):
            xc, yc = (j % cols + 0.5) * cw, (j // cols + 0.5) * ch
            image = ax.imshow(
                im,
                extent=(xc - w / 2, xc + w / 2, yc + h / 2, yc - h / 2),
                origin="upper",
                cmap="RdBu_r",
                vmin=-vmax,
                vmax=vmax,
                interpolation="nearest",
            )
            ax.add_patch(Rectangle((xc - w / 2, yc - h / 2), w, h, fill=False, edgecolor="#333333", lw=0.6))
            if layer.nodes <= 96:
                ax.text(xc, yc - h / 2 - 0.1, str(j), ha="center", va="bottom", fontsize=6, color="#555555")
        ax.set_xlim(0, cols * cw)
        ax.set_ylim(rows * ch, 0)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        how = "mean over" if channel is None else f"channel {min(int(channel), geo[i].in_channels - 1)} of"
        ax.set_title(
            f"L{i} conv: {layer.nodes} kernels, stride {layer.stride[0]}×{layer.stride[1]}, "
            f"{how} {geo[i].in_channels} input channel{'s' if geo[i].in_channels != 1 else ''}\n"
            f"shapes (h×w ×count): {format_shapes(shape_counts(layer.kernels))}",
            fontsize=8,
        )
        if image is not None:
            fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    where = f", {source}" if source else ""
    fig.suptitle(f"Learned kernels ({mixed} of {len(convs)} conv layers mix shapes{where})", fontsize=9)
    return fig


__all__ = ["MAX_COLUMNS", "kernel_image", "kernels_figure"]
