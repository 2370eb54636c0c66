"""See what evolved: architecture, kernel and lineage pictures of one network (``ecosim show``).

Paper §III-E and Figs. 7–8 (kernels of different shapes in one layer, stacked on their shared
central tile) and the future work of §V ("a detailed analysis and visualisation of the kernels
in evolved CNNs"). Pure Python on matplotlib's object API (no pyplot state); no Ray, no torch.

* :mod:`~ecosim.report.show.architecture`: :func:`architecture_figure`, :func:`layer_table`,
  :func:`genome_from_summary`;
* :mod:`~ecosim.report.show.kernels`: :func:`kernels_figure`;
* :mod:`~ecosim.report.show.lineage`: :func:`lineage` (a :class:`Lineage` of :class:`LineageNode`)
  and :func:`lineage_figure`;
* :mod:`~ecosim.report.show.pictures`: :func:`write_pictures` (``ecosim show``) and
  :func:`architecture_picture` (``ecosim report``).

Kept weights: the engine saves the best network of every generation as
``RunDir(run).champion_file(id)`` (``RUN_DIR/champions/net-000123.safetensors``), so
``write_pictures(run, network_id=...)`` or ``generation=...`` has weights to draw.

The champion of ``runs/mnist``, as PNG, into ``runs/mnist/show/``:

>>> from ecosim.report.show import write_pictures                           # doctest: +SKIP
>>> write_pictures("runs/mnist")                                           # doctest: +SKIP
"""

from ecosim.report.show._common import (
    FORMATS,
    ShowError,
    WeightsNotKeptError,
    format_shapes,
    save_figure,
    shape_counts,
)
from ecosim.report.show.architecture import (
    LayerInfo,
    architecture_figure,
    genome_from_summary,
    layer_table,
)
from ecosim.report.show.kernels import kernel_image, kernels_figure
from ecosim.report.show.lineage import Lineage, LineageNode, lineage, lineage_figure
from ecosim.report.show.pictures import (
    architecture_picture,
    generation_champion,
    resolve_network,
    write_pictures,
)

__all__ = [
    "FORMATS",
    "LayerInfo",
    "Lineage",
    "LineageNode",
    "ShowError",
    "WeightsNotKeptError",
    "architecture_figure",
    "architecture_picture",
    "format_shapes",
    "generation_champion",
    "genome_from_summary",
    "kernel_image",
    "kernels_figure",
    "layer_table",
    "lineage",
    "lineage_figure",
    "resolve_network",
    "save_figure",
    "shape_counts",
    "write_pictures",
]
