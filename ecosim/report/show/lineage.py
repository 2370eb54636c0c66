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
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ecosim.report.show._common import ORIGIN_COLOURS, ShowError


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


def _positions(lin: Lineage) -> dict[int, tuple[float, float]]:
    """x = first logged generation (unknown: one left of its earliest child); y by children's barycentre."""
    children: dict[int, list[int]] = defaultdict(list)
    for p, c in lin.edges:
        children[p].append(c)
    xs: dict[int, float] = {n.network_id: float(n.generation) for n in lin.nodes if n.known}  # type: ignore[arg-type]
    for n in lin.nodes:
        if not n.known:
            kids = [xs[c] for c in children[n.network_id] if c in xs]
            xs[n.network_id] = (min(kids) if kids else 0.0) - 1.0
    ys: dict[int, float] = {}
    for x in sorted(set(xs.values()), reverse=True):
        col = [i for i, v in xs.items() if v == x]

        def bary(i: int) -> tuple[float, int]:
            placed = [ys[c] for c in children[i] if c in ys]
            return (sum(placed) / len(placed) if placed else 0.0, i)

        col.sort(key=bary)
        for k, i in enumerate(col):
            ys[i] = k - (len(col) - 1) / 2
    return {i: (xs[i], ys[i]) for i in xs}


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
    return f"#{n.network_id} s{n.species_id if n.species_id is not None else '?'}\n{kind}\n" \
           f"{_pct(n.fitness_before_bp)}→{_pct(n.fitness)}%"


def lineage_figure(lin: Lineage, title: str | None = None) -> Figure:
    """Draw a lineage: x = generation, one box per network, arrows parent → child (paper §III-D, §III-F).

    Each box shows ``#id``, its species ``s<id>``, how it was born (the mutation kind, or
    ``crossover``/``clone``/``initial``) and its fitness before → after its first training in
    percent (``?`` where not logged). Box colours tell the origin (legend); unknown parents are
    white, dashed; the root has a thick border. Networks in one generation are ordered to follow
    their children, to keep crossings few. With more than 120 nodes only ids are printed.

    Args:
        lin: from :func:`lineage`.
        title: figure title; default names the root, its fitness and the node count.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state).

    Shape:
        width ≈ 1.5 in per generation, height ≈ 0.85 in per network in the busiest generation,
        each capped at 60 in.
    """
    pos = _positions(lin)
    xs = [p[0] for p in pos.values()]
    per_x: dict[float, int] = defaultdict(int)
    for x, _ in pos.values():
        per_x[x] += 1
    span = max(xs) - min(xs) + 1
    fig = Figure(figsize=(min(60.0, max(6.0, 1.5 * span + 1.5)), min(60.0, max(3.0, 0.85 * max(per_x.values()) + 1.5))),
                 layout="constrained")
    ax = fig.subplots()
    brief = len(lin.nodes) > 120
    boxes = {}
    for n in lin.nodes:
        x, y = pos[n.network_id]
        colour = ORIGIN_COLOURS.get(n.origin or "unknown", "#ffffff") if n.known else ORIGIN_COLOURS["unknown"]
        boxes[n.network_id] = ax.text(
            x, y, _label(n, brief), ha="center", va="center", fontsize=6.5, zorder=3,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": colour,
                  "edgecolor": "#000000" if n.network_id == lin.root else "#666666",
                  "lw": 2.0 if n.network_id == lin.root else 0.7,
                  "linestyle": "-" if n.known else "--"})
    for p, c in lin.edges:  # from the parent box's right edge to the child box's left edge
        ax.annotate("", xy=(0.0, 0.5), xycoords=boxes[c], xytext=(1.0, 0.5), textcoords=boxes[p],
                    arrowprops={"arrowstyle": "-|>", "color": "#777777", "lw": 0.8,
                                "shrinkA": 3, "shrinkB": 3}, zorder=2)
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_yticks([])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation (first trained)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    present = {n.origin if n.known else "unknown" for n in lin.nodes}
    handles = [Patch(facecolor=c, edgecolor="#666666", label=o) for o, c in ORIGIN_COLOURS.items() if o in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, title="origin")
    if title is None:
        root = lin.node(lin.root)
        title = (f"Lineage of network #{lin.root} ({_pct(root.last_fitness)}% at generation {root.last_generation}): "
                 f"{len(lin.nodes)} networks" + (", truncated" if lin.truncated else ""))
    ax.set_title(title, fontsize=9)
    return fig


__all__ = ["Lineage", "LineageNode", "lineage", "lineage_figure"]
