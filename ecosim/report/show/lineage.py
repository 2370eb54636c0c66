"""Ancestry of one network from the networks log, and its picture (paper §III-D, §III-F).

Every network row logs its ``parent_ids``, ``origin`` (``initial``, ``mutation``, ``crossover``,
``clone``), the ``mutation`` applied at birth, ``fitness_before_bp`` (its score before its first
training) and ``fitness`` (after training). Following ``parent_ids`` back from a network gives
its ancestry down to the initial networks of generation 0: a tree, or a graph once crossover
(two parents) joins branches. Networks culled long ago are still in the log of the generations
they lived in; a parent id that was never logged becomes an *unknown* node.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.path import Path

from ecosim.report.show._common import ORIGIN_COLOURS, ShowError, text_extent
from ecosim.report.show._layered import layered_layout

#: Font size of the box labels, points (smaller when the picture would pass :data:`_MAX_SIDE`).
_FONT = 6.5

#: Font size of the legend, points.
_LEGEND_FONT = 7.0

#: Largest lineage picture side, inches (6,600 px as PNG).
_MAX_SIDE = 60.0

#: Colours of mutation/clone edges and of crossover edges.
_EDGE = "#777777"
_CROSS_EDGE = "#2171b5"


@dataclass(frozen=True)
class LineageNode:
    """One network of a lineage, from the first row it was logged in (its first training).

    Attributes:
        network_id: the network's id.
        known: ``False`` for a parent id that no log row holds (then every other field is ``None``).
        generation: the first generation it was trained and logged in (``x`` in the picture).
        born_generation: the generation whose reproduction step created it (−1 for initial ones).
        origin: ``initial``, ``mutation``, ``crossover`` or ``clone``.
        mutation: the mutation kind applied at birth, or ``None``.
        parent_ids: its parents' ids (two for a crossover, none for an initial network).
        species_id: its species when first trained.
        fitness_before_bp: accuracy before its first training, a fraction in [0, 1], or ``None``.
        fitness: accuracy after its first training, a fraction in [0, 1], or ``None``.
        last_generation: the last generation it was logged in.
        last_fitness: its fitness in ``last_generation``.
        layers: its :meth:`Genome.summary`.
    """

    network_id: int
    known: bool = True
    generation: int | None = None
    born_generation: int | None = None
    origin: str | None = None
    mutation: str | None = None
    parent_ids: tuple[int, ...] = ()
    species_id: int | None = None
    fitness_before_bp: float | None = None
    fitness: float | None = None
    last_generation: int | None = None
    last_fitness: float | None = None
    layers: str | None = None


@dataclass(frozen=True)
class Lineage:
    """The ancestry of ``root``: its nodes and the parent → child edges between them.

    Attributes:
        root: the network whose ancestry this is.
        nodes: every ancestor and ``root``, sorted by (generation, id); unknown nodes last.
        edges: ``(parent_id, child_id)`` pairs, sorted.
        truncated: whether ``max_generations`` stopped the walk before generation 0.
    """

    root: int
    nodes: tuple[LineageNode, ...]
    edges: tuple[tuple[int, int], ...]
    truncated: bool = False

    def node(self, network_id: int) -> LineageNode:
        """The node of ``network_id``.

        Raises:
            KeyError: ``network_id`` is not in this lineage.
        """
        for n in self.nodes:
            if n.network_id == network_id:
                return n
        raise KeyError(network_id)

    def parents(self, network_id: int) -> tuple[int, ...]:
        """Parent ids of ``network_id`` that are in this lineage (edge sources), sorted."""
        return tuple(sorted(p for p, c in self.edges if c == network_id))

    def ids(self) -> set[int]:
        """Every network id in this lineage."""
        return {n.network_id for n in self.nodes}


def _opt(value: Any, cast: Any) -> Any:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return cast(value)


def _parents(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        return tuple(int(v) for v in value)
    except TypeError:
        return ()


def lineage(networks: pd.DataFrame, network_id: int, max_generations: int | None = None) -> Lineage:
    """The ancestry of ``network_id``, back to generation 0, from the networks log.

    Args:
        networks: network rows (:func:`ecosim.store.logs.read_networks`); only ``generation``,
            ``network_id``, ``parent_ids``, ``origin``, ``mutation``, ``born_generation``,
            ``species_id``, ``fitness``, ``fitness_before_bp`` and ``layers`` are read (the last
            five may be absent).
        network_id: the network whose ancestry is wanted.
        max_generations: stop following parents of networks first logged more than this many
            generations before ``network_id`` (``None``: no limit).

    Returns:
        :class:`Lineage`. Each node holds its birth data from the first row it was logged in, and its
        last logged generation and fitness. A parent id found in no row is an unknown node.

    Raises:
        ShowError: ``network_id`` is not in ``networks``; the message gives the range of logged ids.

    >>> rows = pd.DataFrame({"generation": [0, 1], "network_id": [0, 1], "parent_ids": [[], [0]],
    ...                      "origin": ["initial", "mutation"], "mutation": [None, "add_node"]})
    >>> lineage(rows, 1).edges
    ((0, 1),)
    """
    if networks.empty or network_id not in set(networks["network_id"].astype(int)):
        span = "none" if networks.empty else f"{int(networks['network_id'].min())}–{int(networks['network_id'].max())}"
        raise ShowError(f"network {network_id} is not in the networks log (logged ids: {span})")
    ordered = networks.sort_values(["generation", "network_id"], kind="stable")
    first = {int(r["network_id"]): r for r in ordered.drop_duplicates("network_id", keep="first").to_dict("records")}
    last = {int(r["network_id"]): r for r in ordered.drop_duplicates("network_id", keep="last").to_dict("records")}

    def make(nid: int) -> LineageNode:
        if nid not in first:
            return LineageNode(nid, known=False)
        r, z = first[nid], last[nid]
        return LineageNode(
            network_id=nid,
            generation=int(r["generation"]),
            born_generation=_opt(r.get("born_generation"), int),
            origin=_opt(r.get("origin"), str),
            mutation=_opt(r.get("mutation"), str),
            parent_ids=_parents(r.get("parent_ids")),
            species_id=_opt(r.get("species_id"), int),
            fitness_before_bp=_opt(r.get("fitness_before_bp"), float),
            fitness=_opt(r.get("fitness"), float),
            last_generation=int(z["generation"]),
            last_fitness=_opt(z.get("fitness"), float),
            layers=_opt(r.get("layers"), str),
        )

    root = make(int(network_id))
    limit = None if max_generations is None else root.generation - int(max_generations)  # type: ignore[operator]
    nodes = {root.network_id: root}
    edges: set[tuple[int, int]] = set()
    truncated = False
    queue = deque([root])
    while queue:
        node = queue.popleft()
        if not node.known:
            continue
        if limit is not None and node.generation < limit and node.parent_ids:  # type: ignore[operator]
            truncated = True
            continue
        for pid in node.parent_ids:
            edges.add((pid, node.network_id))
            if pid not in nodes:
                nodes[pid] = make(pid)
                queue.append(nodes[pid])
    order = sorted(nodes.values(), key=lambda n: (not n.known, n.generation or 0, n.network_id))
    return Lineage(int(network_id), tuple(order), tuple(sorted(edges)), truncated)


def _layers(lin: Lineage) -> dict[int, int]:
    """Column of every node: its first logged generation; an unknown parent one left of its earliest child."""
    children: dict[int, list[int]] = defaultdict(list)
    for p, c in lin.edges:
        children[p].append(c)
    col = {n.network_id: int(n.generation) for n in lin.nodes if n.known}  # type: ignore[arg-type]
    for n in lin.nodes:
        if not n.known:
            kids = [col[c] for c in children[n.network_id] if c in col]
            col[n.network_id] = (min(kids) if kids else 0) - 1
    return col


def _roles(lin: Lineage, parent: int, child: int) -> tuple[int, ...]:
    """Which parent(s) of ``child`` ``parent`` is, counting from 1 in the logged ``parent_ids`` order."""
    return tuple(i + 1 for i, q in enumerate(lin.node(child).parent_ids) if q == parent)


def _is_crossover(node: LineageNode) -> bool:
    return node.origin == "crossover" or len(set(node.parent_ids)) > 1


@dataclass(frozen=True)
class _Placed:
    """A lineage laid out in inches at label font size ``font``: boxes, columns and edge paths."""

    font: float
    layer: dict[int, int]
    centre: dict[int, tuple[float, float]]
    size: dict[int, tuple[float, float]]
    columns: dict[int, tuple[float, float]]  # layer → (centre x, widest box)
    paths: dict[tuple[int, int], Path]
    ports: dict[tuple[int, int], tuple[float, float]]  # where each edge meets its child's box
    extent: tuple[float, float, float, float]  # x0, x1, y0, y1 of everything drawn


def _curve(verts: list, codes: list, end: tuple[float, float]) -> None:
    """Append a cubic Bézier to ``end``, horizontal at both ends, so it stays between the two x's."""
    x0, y0 = verts[-1]
    mid = (x0 + end[0]) / 2
    verts += [(mid, y0), (mid, end[1]), end]
    codes += [Path.CURVE4] * 3


def _line(verts: list, codes: list, end: tuple[float, float]) -> None:
    if end != tuple(verts[-1]):
        verts.append(end)
        codes.append(Path.LINETO)


def _place(lin: Lineage, text: dict[int, tuple[float, float]], font: float) -> _Placed:
    """Boxes around the labels' ``text`` extents at :data:`_FONT` scaled to ``font``, a layered layout, routed edges."""
    em, scale = font / 72.0, font / _FONT
    size = {i: (w * scale + 1.4 * em, h * scale + 0.8 * em) for i, (w, h) in text.items()}
    layer = _layers(lin)
    lay = layered_layout(layer, lin.edges, {i: size[i][1] / 2 for i in layer}, gap=1.4 * em, lane_gap=1.0 * em)
    widest: dict[int, float] = defaultdict(float)
    for i, k in layer.items():
        widest[k] = max(widest[k], size[i][0])
    first, last = min(layer.values()), max(layer.values())
    pitch = max(widest.values()) + 7.0 * em
    columns = {k: ((k - first) * pitch, widest[k]) for k in range(first, last + 1)}
    centre = {i: (columns[k][0], lay.y[i]) for i, k in layer.items()}
    incoming: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, c in lin.edges:  # order a child's in-ports by where each edge comes from
        lanes = lay.lanes.get((p, c), ())
        incoming[c].append((lanes[-1] if lanes else centre[p][1], p))
    ports: dict[tuple[int, int], tuple[float, float]] = {}
    for c, srcs in incoming.items():
        half = size[c][1] / 2
        for j, (_, p) in enumerate(sorted(srcs, reverse=True)):  # top port for the highest source
            dy = 0.0 if len(srcs) == 1 else 0.55 * half * (1 - 2 * j / (len(srcs) - 1))
            ports[(p, c)] = (centre[c][0] - size[c][0] / 2, centre[c][1] + dy)
    paths = {}
    ys = [y for _, y in centre.values()]
    for p, c in lin.edges:
        (xp, yp), (xc, _) = centre[p], centre[c]
        verts, codes = [(xp + size[p][0] / 2, yp)], [Path.MOVETO]
        port = ports[(p, c)]
        if layer[c] <= layer[p]:  # not left to right (a damaged log): a straight line
            _line(verts, codes, port)
        else:
            _line(verts, codes, (xp + widest[layer[p]] / 2, yp))
            for k, y in zip(range(layer[p] + 1, layer[c]), lay.lanes[(p, c)]):
                x, w = columns[k]
                _curve(verts, codes, (x - w / 2, y))
                _line(verts, codes, (x + w / 2, y))
                ys.append(y)
            _curve(verts, codes, (xc - widest[layer[c]] / 2, port[1]))
            _line(verts, codes, port)
        paths[(p, c)] = Path(verts, codes)
    x0 = min(x - w / 2 for x, w in columns.values())
    x1 = max(x + w / 2 for x, w in columns.values())
    y0 = min(min(y - size[i][1] / 2 for i, (_, y) in centre.items()), min(ys))
    y1 = max(max(y + size[i][1] / 2 for i, (_, y) in centre.items()), max(ys))
    return _Placed(font, layer, centre, size, columns, paths, ports, (x0, x1, y0, y1))


def _pct(v: float | None) -> str:
    return "?" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def _label(n: LineageNode, brief: bool) -> str:
    if not n.known:
        return f"#{n.network_id}\nunknown"
    if brief:
        return f"#{n.network_id}"
    kind = n.mutation if n.origin == "mutation" and n.mutation else (n.origin or "?")
    if n.origin == "crossover" and n.mutation:
        kind = f"crossover+{n.mutation}"
    return (
        f"#{n.network_id} s{n.species_id if n.species_id is not None else '?'}\n{kind}\n"
        f"{_pct(n.fitness_before_bp)}→{_pct(n.fitness)}%"
    )


def _edge_style(lin: Lineage, p: int, c: int) -> tuple[str, str, str]:
    """Colour, line style and label (``"1"``, ``"2"``, ``""``) of the edge ``p → c``."""
    if not _is_crossover(lin.node(c)):
        return _EDGE, "-", ""
    roles = _roles(lin, p, c)
    return _CROSS_EDGE, ("-" if 1 in roles or not roles else "--"), ",".join(map(str, roles))


def _tick_step(pitch: float) -> int:
    """Every how many generations to label, so labels are at least 0.35 in apart."""
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if step * pitch >= 0.35:
            return step
    return 2000


def lineage_figure(lin: Lineage, title: str | None = None) -> Figure:
    """Draw a lineage: x = generation, one box per network, arrows parent → child (paper §III-D, §III-F).

    Each box shows ``#id``, its species ``s<id>``, how it was born (the mutation kind, or
    ``crossover``/``clone``/``initial``) and its fitness before → after its first training in
    percent (``?`` where not logged). Box colours tell the origin (legend); unknown parents are
    white, dashed; the root has a thick border. With more than 120 nodes only ids are printed.

    The layout is layered (:func:`ecosim.report.show._layered.layered_layout`): networks of a
    generation are ordered by their children's positions to keep crossings few, and an edge that
    skips generations runs in a lane of its own through each of them. Edges are curves between
    the columns and horizontal inside them, so no edge passes through a box and every edge
    starts at its parent's right side and ends, with its arrow head, at its child's left side.
    A crossover's edges are blue and labelled ``1`` (first parent, solid) and ``2`` (second
    parent, dashed) at the child, where they meet it at ports of their own; mutation and clone
    edges are grey. The x axis labels only whole generations.

    Args:
        lin: from :func:`lineage`.
        title: figure title; default names the root, its fitness and the node count.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state). Boxes are patches with
        ``gid`` ``"node-<id>"``, edges arrows with ``gid`` ``"edge-<parent>-<child>"`` (also in SVG).

    Shape:
        one column per generation, as wide as the widest box plus ≈ 0.6 in; each column as
        tall as its boxes and lanes. Label font 6.5 pt, smaller when a side would pass 60 in.
    """
    brief = len(lin.nodes) > 120
    labels = {n.network_id: _label(n, brief) for n in lin.nodes}
    if title is None:
        root = lin.node(lin.root)
        count = len(lin.nodes)
        title = (
            f"Lineage of network #{lin.root} ({_pct(root.last_fitness)}% at generation {root.last_generation}): "
            f"{count} network{'' if count == 1 else 's'}" + (", truncated" if lin.truncated else "")
        )
    present = {n.origin if n.known else "unknown" for n in lin.nodes}
    handles: list[Any] = [
        Patch(facecolor=c, edgecolor="#666666", label=o) for o, c in ORIGIN_COLOURS.items() if o in present
    ]
    if any(not _is_crossover(lin.node(c)) for _, c in lin.edges):
        handles.append(Line2D([], [], color=_EDGE, lw=1.0, label="parent"))
    if any(_is_crossover(lin.node(c)) for _, c in lin.edges):
        handles += [
            Line2D([], [], color=_CROSS_EDGE, lw=1.0, label="crossover: 1st parent (1)"),
            Line2D([], [], color=_CROSS_EDGE, lw=1.0, ls="--", label="crossover: 2nd parent (2)"),
        ]
    legend_w = max(text_extent(h.get_label(), _LEGEND_FONT)[0] for h in handles) + 0.45
    legend_h = (len(handles) + 1) * 1.7 * _LEGEND_FONT / 72 + 0.2
    title_w, title_h = text_extent(title, 9)
    left, right, bottom, top = 0.3, legend_w + 0.35, 0.55, title_h + 0.3

    text = {i: text_extent(label, _FONT) for i, label in labels.items()}
    placed = _place(lin, text, _FONT)
    x0, x1, y0, y1 = placed.extent
    scale = min(1.0, (_MAX_SIDE - left - right - 0.2) / (x1 - x0), (_MAX_SIDE - bottom - top - 0.2) / (y1 - y0))
    if scale < 1.0:  # too large: everything in the axes smaller, same layout
        placed = _place(lin, text, _FONT * scale)
        x0, x1, y0, y1 = placed.extent
    axes_w = max(x1 - x0 + 0.2, 1.0, title_w + 0.4 - left - right)
    axes_h = max(y1 - y0 + 0.2, 0.8, legend_h)
    width, height = left + axes_w + right, bottom + axes_h + top
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((left / width, bottom / height, axes_w / width, axes_h / height))
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2  # 1 data unit = 1 inch, content centred
    ax.set_xlim(mx - axes_w / 2, mx + axes_w / 2)
    ax.set_ylim(my - axes_h / 2, my + axes_h / 2)

    font = placed.font
    for n in lin.nodes:
        i = n.network_id
        (x, y), (w, h) = placed.centre[i], placed.size[i]
        colour = ORIGIN_COLOURS.get(n.origin or "unknown", "#ffffff") if n.known else ORIGIN_COLOURS["unknown"]
        ax.add_artist(
            FancyBboxPatch(  # add_artist: limits are set, no autoscaling
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle=f"round,pad=0,rounding_size={min(0.4 * font / 72, h / 4)}",
                facecolor=colour,
                edgecolor="#000000" if i == lin.root else "#666666",
                lw=(2.0 if i == lin.root else 0.7) * min(1.0, font / _FONT),
                linestyle="-" if n.known else "--",
                zorder=3,
                gid=f"node-{i}",
            )
        )
        ax.text(x, y, labels[i], ha="center", va="center", fontsize=font, zorder=5, gid=f"label-{i}")
    for p, c in lin.edges:
        colour, style, role = _edge_style(lin, p, c)
        ax.add_artist(
            FancyArrowPatch(
                path=placed.paths[(p, c)],
                arrowstyle="-|>",
                mutation_scale=8 * font / _FONT,
                color=colour,
                lw=0.9 * font / _FONT,
                linestyle=style,
                zorder=4,
                gid=f"edge-{p}-{c}",
            )
        )
        if role:
            x, y = placed.ports[(p, c)]
            gap_x = x - (placed.columns[placed.layer[c]][0] - placed.columns[placed.layer[c]][1] / 2)
            ax.text(
                x - gap_x - 2.0 * font / 72,
                y,
                role,
                ha="center",
                va="center",
                fontsize=0.9 * font,
                color=colour,
                zorder=6,
                gid=f"role-{p}-{c}",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )

    first = min(placed.layer.values())
    pitch = (placed.columns[first + 1][0] - placed.columns[first][0]) if first + 1 in placed.columns else 1.0
    step = _tick_step(pitch)
    gens = [k for k in placed.columns if k >= 0 and k % step == 0]
    ax.set_xticks([placed.columns[k][0] for k in gens], [str(k) for k in gens], fontsize=7)
    ax.set_yticks([])
    ax.set_xlabel("generation (first trained)", fontsize=8)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=((left + axes_w + 0.15) / width, 1 - top / height),
        fontsize=_LEGEND_FONT,
        frameon=False,
        title="origin / edge" if lin.edges else "origin",
        title_fontsize=_LEGEND_FONT,
        borderaxespad=0.0,
    )
    fig.suptitle(title, fontsize=9, y=1 - 0.12 / height, va="top")
    return fig


__all__ = ["Lineage", "LineageNode", "lineage", "lineage_figure"]
