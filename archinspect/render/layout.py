"""A layered (Sugiyama) layout of a dataflow graph in pure Python: nothing to install, no ``dot``.

The classic four steps (Sugiyama, Tagawa & Toda 1981; Gansner et al. 1993, the ``dot`` paper):

1. **layers**: longest path from the inputs, so every edge points down;
2. **dummies**: an edge spanning several layers becomes a chain of dummy points, one per layer, so a skip
   connection is routed around the nodes it passes instead of through them;
3. **order**: the nodes of each layer ordered by the barycentre of their neighbours, sweeping down and up,
   keeping the members of one cluster (a module's children) next to each other, nested clusters too;
4. **coordinates**: each node placed at the mean of its neighbours, overlaps pushed apart left and right,
   alternately from the layer above and the layer below; cluster boxes are the padded hulls of their nodes.

Measured against Graphviz (``pygraphviz``'s bundled ``dot``) and ``grandalf`` in docs/graph.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

NODE_SEP = 22.0  # horizontal space between neighbouring boxes (px)
BUS_SEP = 6.0  # between two edges passing through a layer
GROUP_SEP = 14.0  # extra space where a cluster border runs between two neighbours
LAYER_GAP = 26.0  # vertical space between layers (an edge and its shape label), before room for cluster borders
BORDER = 14.0  # room for one cluster border (its padding) between layers
HEADER = 16.0  # a cluster's title line
SWEEPS = 6


@dataclass
class Box:
    """A node to place: its id, size, and the clusters it sits in, outermost first."""

    id: str
    width: float
    height: float
    groups: tuple[str, ...] = ()


@dataclass
class Placed:
    x: float  # centre
    y: float  # centre
    width: float
    height: float


@dataclass
class Layout:
    """Positions of nodes (centres), edges (polylines, tail to head) and cluster boxes (x, y, w, h)."""

    nodes: dict[str, Placed]
    edges: list[list[tuple[float, float]]]
    groups: dict[str, tuple[float, float, float, float]]
    width: float
    height: float
    layers: dict[str, int] = field(default_factory=dict)

    def span(self, src: str, dst: str) -> int:
        """How many layers an edge crosses (1 for neighbours; more for a skip)."""
        return self.layers[dst] - self.layers[src]


def _layers(ids: list[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest path from the sources; edges closing a cycle (none in a dataflow) are ignored."""
    succ: dict[str, list[str]] = defaultdict(list)
    indeg = dict.fromkeys(ids, 0)
    for s, d in edges:
        succ[s].append(d)
        indeg[d] += 1
    layer = dict.fromkeys(ids, 0)
    ready = [i for i in ids if indeg[i] == 0]
    done: set[str] = set()
    pos = {i: k for k, i in enumerate(ids)}
    while len(done) < len(ids):
        if not ready:  # a cycle: release the earliest waiting node
            ready = [min((i for i in ids if i not in done), key=pos.__getitem__)]
        ready.sort(key=pos.__getitem__, reverse=True)
        while ready:
            n = ready.pop()
            if n in done:
                continue
            done.add(n)
            for d in succ[n]:
                if d in done:
                    continue
                layer[d] = max(layer[d], layer[n] + 1)
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
    return layer


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def layout(boxes: Sequence[Box], edges: Sequence[tuple[str, str]]) -> Layout:
    """Place ``boxes`` (in reading order) and route ``edges`` (src id, dst id) top to bottom."""
    ids = [b.id for b in boxes]
    box = {b.id: b for b in boxes}
    edges = [(s, d) for s, d in edges if s in box and d in box and s != d]
    layer = _layers(ids, edges)
    edges = [(s, d) for s, d in edges if layer[d] > layer[s]]
    # 2. dummies
    groups = {b.id: b.groups for b in boxes}
    width = {b.id: b.width for b in boxes}
    chains: list[list[str]] = []
    for s, d in edges:  # one dummy per source and layer: a tensor read by many later nodes runs down as one bus
        chain = [s]
        inside = _common(groups[s], groups[d])
        for lay in range(layer[s] + 1, layer[d]):
            dummy = f"\0{s}:{lay}"
            if dummy in layer:
                groups[dummy] = _common(groups[dummy], inside)
            layer[dummy], width[dummy] = lay, 2.0
            groups.setdefault(dummy, inside)
            chain.append(dummy)
        chain.append(d)
        chains.append(chain)
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            if b not in down[a]:
                down[a].append(b)
                up[b].append(a)
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    seen: set[str] = set()

    def visit(n: str) -> None:  # first order: depth-first from the sources, branches kept together
        stack = [n]
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            rows[layer[v]].append(v)
            stack.extend(reversed(down[v]))

    for n in ids:
        if not up[n]:
            visit(n)
    for n in list(layer):
        visit(n)
    _order(rows, up, down, groups)
    place = _coordinates(rows, up, down, groups, width, {b.id: b.height for b in boxes})
    nodes = {i: Placed(place[i][0], place[i][1], box[i].width, box[i].height) for i in ids}
    lines = []
    for chain in chains:
        s, d = chain[0], chain[-1]
        pts = [(nodes[s].x, nodes[s].y + nodes[s].height / 2)]
        pts += [place[v] for v in chain[1:-1]]
        pts.append((nodes[d].x, nodes[d].y - nodes[d].height / 2))
        lines.append(pts)
    bends = {v: Placed(*place[v], 2.0, 2.0) for v in place if v[0] == "\0" and groups[v]}
    boxes_out = _group_boxes({**nodes, **bends}, {**{b.id: b.groups for b in boxes}, **{v: groups[v] for v in bends}})
    right = max([p.x + p.width / 2 for p in nodes.values()] + [x + w for x, _, w, _ in boxes_out.values()] + [0])
    bottom = max([p.y + p.height / 2 for p in nodes.values()] + [y + h for _, y, _, h in boxes_out.values()] + [0])
    return Layout(nodes, lines, boxes_out, right + 10, bottom + 10, {i: layer[i] for i in ids})


def _order(
    rows: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]], groups: dict[str, tuple[str, ...]]
) -> None:
    """Barycentre sweeps; members of a cluster stay contiguous (sorted by their cluster's mean position)."""
    pos = {v: float(i) for row in rows for i, v in enumerate(row)}

    def sort_row(row: list[str], neighbours: dict[str, list[str]]) -> None:
        bary = {}
        for v in row:
            ns = neighbours[v]
            bary[v] = sum(pos[n] for n in ns) / len(ns) if ns else pos[v]
        depth = max((len(groups[v]) for v in row), default=0)
        means: list[dict[str, float]] = []
        for level in range(depth):
            acc: dict[str, list[float]] = defaultdict(list)
            for v in row:
                if len(groups[v]) > level:
                    acc[groups[v][level]].append(bary[v])
            means.append({g: sum(x) / len(x) for g, x in acc.items()})

        def key(v: str) -> tuple[float, ...]:
            g = groups[v]
            return tuple(means[lv][g[lv]] if lv < len(g) else bary[v] for lv in range(depth)) + (bary[v],)

        row.sort(key=key)
        for i, v in enumerate(row):
            pos[v] = float(i)

    for sweep in range(SWEEPS):
        if sweep % 2 == 0:
            for row in rows[1:]:
                sort_row(row, up)
        else:
            for row in reversed(rows[:-1]):
                sort_row(row, down)


def _coordinates(
    rows: list[list[str]],
    up: dict[str, list[str]],
    down: dict[str, list[str]],
    groups: dict[str, tuple[str, ...]],
    width: dict[str, float],
    height: dict[str, float],
) -> dict[str, tuple[float, float]]:
    def sep(a: str, b: str) -> float:
        shared = len(_common(groups[a], groups[b]))
        borders = len(groups[a]) + len(groups[b]) - 2 * shared
        gap = BUS_SEP if (a[0] == "\0" and b[0] == "\0") else NODE_SEP
        return (width[a] + width[b]) / 2 + gap + GROUP_SEP * borders

    x: dict[str, float] = {}
    for row in rows:
        at = 0.0
        for i, v in enumerate(row):
            at = at + sep(row[i - 1], v) if i else width[v] / 2
            x[v] = at

    def settle(row: list[str], want: dict[str, float]) -> None:
        left = []
        for i, v in enumerate(row):
            left.append(max(want[v], left[-1] + sep(row[i - 1], v)) if i else want[v])
        right = [0.0] * len(row)
        for i in range(len(row) - 1, -1, -1):
            v = row[i]
            right[i] = min(want[v], right[i + 1] - sep(v, row[i + 1])) if i < len(row) - 1 else want[v]
        for i, v in enumerate(row):
            x[v] = (left[i] + right[i]) / 2
        for i in range(1, len(row)):
            x[row[i]] = max(x[row[i]], x[row[i - 1]] + sep(row[i - 1], row[i]))

    members: dict[str, list[str]] = defaultdict(list)  # innermost cluster -> its boxes (no dummies)
    for v in x:
        if groups[v] and v[0] != "\0":
            members[groups[v][-1]].append(v)
    for sweep in range(2 * SWEEPS):
        order = rows if sweep % 2 == 0 else list(reversed(rows))
        centre = {g: sum(x[v] for v in vs) / len(vs) for g, vs in members.items() if len(vs) > 1}
        for row in order:
            want = {}
            for v in row:
                ns = (up[v] + down[v]) if sweep >= SWEEPS else (up[v] if sweep % 2 == 0 else down[v])
                want[v] = sum(x[n] for n in ns) / len(ns) if ns else x[v]
                if v[0] != "\0" and groups[v] and groups[v][-1] in centre:  # a cluster stays a column
                    want[v] = (want[v] + centre[groups[v][-1]]) / 2
            settle(row, want)
    _separate_clusters(x, rows, groups, width)
    low = min(x[v] - width[v] / 2 for v in x) if x else 0.0
    y: dict[str, float] = {}
    top = 10.0 + HEADER + BORDER * max((len(groups[v]) for v in rows[0]), default=0) if rows else 0.0
    for i, row in enumerate(rows):
        tall = max((height.get(v, 0.0) for v in row), default=0.0)
        for v in row:
            y[v] = top + tall / 2
        if i + 1 < len(rows):
            here = {g for v in row for g in groups[v]}
            below = {g for v in rows[i + 1] for g in groups[v]}
            top += tall + LAYER_GAP + (BORDER + HEADER / 2) * len(here ^ below)
    margin = 10.0 + BORDER * max((len(g) for g in groups.values()), default=0)
    return {v: (x[v] - low + margin, y[v]) for v in x}


def _group_boxes(
    nodes: dict[str, Placed], groups: dict[str, tuple[str, ...]]
) -> dict[str, tuple[float, float, float, float]]:
    """Each cluster's box: the hull of its nodes, padded more for each cluster nested inside it."""
    hull: dict[str, list[float]] = {}
    inner: dict[str, int] = defaultdict(int)
    for nid, gs in groups.items():
        p = nodes[nid]
        for level, g in enumerate(gs):
            inner[g] = max(inner[g], len(gs) - level - 1)
            h = hull.setdefault(g, [p.x - p.width / 2, p.y - p.height / 2, p.x + p.width / 2, p.y + p.height / 2])
            h[0], h[1] = min(h[0], p.x - p.width / 2), min(h[1], p.y - p.height / 2)
            h[2], h[3] = max(h[2], p.x + p.width / 2), max(h[3], p.y + p.height / 2)
    out = {}
    for g, (x0, y0, x1, y1) in hull.items():
        pad = BORDER * (inner[g] + 1) / 1.6
        top = pad + HEADER * (inner[g] + 1) / 1.6
        out[g] = (x0 - pad, y0 - top, x1 - x0 + 2 * pad, y1 - y0 + top + pad)
    return out


def _separate_clusters(
    x: dict[str, float], rows: list[list[str]], groups: dict[str, tuple[str, ...]], width: dict[str, float]
) -> None:
    """Push apart sibling clusters whose boxes overlap (a cluster's nodes in different layers can drift into
    its neighbour's column): the right one, and everything right of it in the layers they share, moves right."""
    layer = {v: i for i, row in enumerate(rows) for v in row}
    for _ in range(30):
        hull: dict[str, list[float]] = {}
        for v, gs in groups.items():
            if v[0] == "\0":
                continue
            for depth, g in enumerate(gs):
                pad = GROUP_SEP * 0.6
                h = hull.setdefault(g, [math.inf, -math.inf, math.inf, -math.inf, float(depth)])
                h[0], h[1] = min(h[0], x[v] - width[v] / 2 - pad), max(h[1], x[v] + width[v] / 2 + pad)
                h[2], h[3] = min(h[2], layer[v]), max(h[3], layer[v])
        parent = {g: gs[:i] for gs in groups.values() for i, g in enumerate(gs)}
        moved = False
        names = sorted(hull, key=lambda g: hull[g][0])
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                ha, hb = hull[a], hull[b]
                if ha[1] <= hb[0]:
                    break  # sorted by left edge: no later cluster reaches back into ``a``
                if parent[a] != parent[b] or ha[3] < hb[2] or hb[3] < ha[2]:
                    continue
                left, right = (a, b) if (ha[0] + ha[1]) <= (hb[0] + hb[1]) else (b, a)
                shift = hull[left][1] - hull[right][0] + GROUP_SEP / 2
                edge = hull[right][0]
                lo, hi = min(ha[2], hb[2]), max(ha[3], hb[3])
                for v in x:
                    if lo <= layer[v] <= hi and x[v] >= edge - 1e-6 and left not in groups[v]:
                        x[v] += shift
                moved = True
                break
            if moved:
                break
        if not moved:
            return
