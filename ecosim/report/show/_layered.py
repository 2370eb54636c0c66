"""Layered drawing of a directed graph whose edges go left to right (Sugiyama-style), for lineages.

Every node has a layer (its column, e.g. a generation); an edge spanning several layers gets a
*lane* (a dummy node) in each layer between its ends, so it can be routed past the boxes of
those layers instead of through them. Nodes and lanes of a layer are ordered by the barycentre
of their neighbours (a few sweeps, keeping the order with fewest crossings), then given heights
that follow their children as closely as a minimum separation allows (an isotonic fit). Pure
Python: no matplotlib.

Reference: K. Sugiyama, S. Tagawa, M. Toda, "Methods for visual understanding of hierarchical
system structures", IEEE Trans. SMC 11(2), 1981 (layering, dummy nodes, barycentre ordering).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LayeredLayout:
    """Heights of nodes and of edges' lanes.

    Attributes:
        y: centre height of every node.
        lanes: for each edge ``(parent, child)`` spanning more than one layer, its height in each
            layer strictly between its ends, left to right (empty for adjacent layers).
        order: every layer's nodes and lanes from bottom to top (lanes as ``(parent, child, layer)``).
    """

    y: dict[Hashable, float]
    lanes: dict[tuple[Hashable, Hashable], tuple[float, ...]]
    order: dict[int, tuple[Hashable, ...]]


def _tie(v: Hashable, lane: bool) -> tuple:
    return (1, repr(v)) if lane else (0, v)


def _isotonic(values: list[float]) -> list[float]:
    """Non-decreasing least-squares fit of ``values`` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
    out: list[float] = []
    for s, n in blocks:
        out += [s / n] * int(n)
    return out


def _crossings(order: Mapping[int, list], down: Mapping[Hashable, list]) -> int:
    """Edge crossings between adjacent layers of ``order``."""
    total = 0
    layers = sorted(order)
    for a, b in zip(layers[:-1], layers[1:]):
        pos_b = {v: i for i, v in enumerate(order[b])}
        seen: list[int] = []
        for v in order[a]:  # for each edge, count earlier edges that end lower
            ends = sorted(pos_b[w] for w in down[v] if w in pos_b)
            for e in ends:
                total += len(seen) - bisect_right(seen, e)
            for e in ends:
                insort(seen, e)
    return total


def layered_layout(
    layer: Mapping[Any, int],
    edges: Iterable[tuple[Hashable, Hashable]],
    half_height: Mapping[Hashable, float],
    gap: float,
    lane_gap: float,
    sweeps: int = 6,
) -> LayeredLayout:
    """Place the nodes of each layer and the lanes of long edges so nothing overlaps.

    Args:
        layer: every node's layer; an edge must go to a higher layer (others are ignored here:
            they get no lane and do not take part in the ordering).
        edges: ``(parent, child)`` pairs.
        half_height: half the height of every node's box.
        gap: free space between two boxes of a layer.
        lane_gap: free space between a lane and a box or another lane.
        sweeps: barycentre sweeps (alternately by parents and by children) after the first.

    Returns:
        :class:`LayeredLayout`. In each layer, heights follow the order bottom to top, and
        consecutive items are at least their half-heights plus ``gap`` (box–box) or ``lane_gap``
        apart. The rightmost layer's first node is at 0.

    Shape:
        ``len(y) == len(layer)``; ``len(lanes[e]) == layer[child] − layer[parent] − 1``.

    >>> lay = layered_layout({0: 0, 1: 0, 2: 1}, [(0, 2), (1, 2)], {0: 1.0, 1: 1.0, 2: 1.0}, 0.5, 0.2)
    >>> lay.y[2], sorted((lay.y[0], lay.y[1]))
    (0.0, [-1.25, 1.25])
    """
    edges = sorted({(p, c) for p, c in edges if layer[c] > layer[p]}, key=lambda e: (repr(e[0]), repr(e[1])))
    is_lane: dict[Hashable, bool] = {v: False for v in layer}
    where: dict[Hashable, int] = dict(layer)
    up: dict[Hashable, list] = defaultdict(list)
    down: dict[Hashable, list] = defaultdict(list)
    chains: dict[tuple[Hashable, Hashable], list] = {}
    for p, c in edges:
        chain = [(p, c, k) for k in range(layer[p] + 1, layer[c])]
        for d in chain:
            is_lane[d], where[d] = True, d[2]
        chains[(p, c)] = chain
        path = [p, *chain, c]
        for a, b in zip(path[:-1], path[1:]):
            down[a].append(b)
            up[b].append(a)
    order: dict[int, list] = defaultdict(list)
    for v in sorted(where, key=lambda v: _tie(v, is_lane[v])):
        order[where[v]].append(v)
    layers = sorted(order)

    def sweep(sequence: list[int], nbrs: Mapping[Hashable, list], ref_step: int) -> None:
        for k in sequence:
            ref = {v: i for i, v in enumerate(order.get(k + ref_step, []))}
            keys = {}
            for i, v in enumerate(order[k]):  # barycentre of the neighbours; else where it is, rescaled
                placed = [ref[n] for n in nbrs[v] if n in ref]
                keys[v] = (sum(placed) / len(placed) if placed else i * len(ref) / len(order[k]), i)
            order[k].sort(key=keys.__getitem__)

    sweep(layers[-2::-1], down, +1)  # right to left: follow the children
    best, best_x = {k: list(v) for k, v in order.items()}, _crossings(order, down)
    for s in range(sweeps):
        if s % 2 == 0:
            sweep(layers[1:], up, -1)
        else:
            sweep(layers[-2::-1], down, +1)
        x = _crossings(order, down)
        if x < best_x:
            best, best_x = {k: list(v) for k, v in order.items()}, x
    order = defaultdict(list, best)

    y: dict[Hashable, float] = {}
    half = {v: (0.0 if is_lane[v] else float(half_height[v])) for v in where}
    for k in reversed(layers):  # right to left: each item as near its children as separation allows
        col = order[k]
        seps = [half[a] + half[b] + (lane_gap if is_lane[a] or is_lane[b] else gap) for a, b in zip(col[:-1], col[1:])]
        offsets = [0.0]
        for sep in seps:
            offsets.append(offsets[-1] + sep)
        wanted: list[float] = []
        for i, v in enumerate(col):
            kids = [y[w] for w in down[v] if w in y]
            if kids:
                wanted.append(sum(kids) / len(kids))
            else:  # no placed child (the rightmost layer): stack from 0
                wanted.append(wanted[-1] + seps[i - 1] if i else 0.0)
        fit = _isotonic([w - o for w, o in zip(wanted, offsets)])
        for v, z, o in zip(col, fit, offsets):
            y[v] = z + o
    nodes = {v: y[v] for v in layer}
    lanes = {e: tuple(y[d] for d in chain) for e, chain in chains.items()}
    return LayeredLayout(nodes, lanes, {k: tuple(v) for k, v in order.items()})


__all__ = ["LayeredLayout", "layered_layout"]
