"""Which layout for ``archinspect graph``: the in-house layered layout against Graphviz's ``dot`` (through the
``pygraphviz`` wheel, which bundles Graphviz's libraries) and ``grandalf`` (pure Python), on the same graphs.

For each zoo graph (unfolded, so that the graphs are large) every engine gets the same boxes (sizes in px)
and edges (``dot`` also the clusters; grandalf has none); reported: the best of ``--repeat`` layout times,
the drawing's width and height (px), and edge crossings (segment pairs of two edges with no common end
that intersect, counted on the routed polylines; ``dot``'s splines by their control points). A 1,000-node
graph (a random layered DAG with long skips) checks "laid out in seconds".

    python benchmarks/bench_graph_layout.py [--repeat 3]

pygraphviz and grandalf are not dependencies of archinspect: ``pip install pygraphviz grandalf`` to compare.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from collections.abc import Callable

from archinspect.models.loading import load_model
from archinspect.render.graph import GraphView, graph
from archinspect.render.layout import Box, layout

Segment = tuple[int, float, float, float, float]
CASES = [("resnet50", 3), ("googlenet", 3), ("inception-v3", 3), ("densenet121", 3), ("resnet152", 4)]


def _crossings(lines: list[list[tuple[float, float]]], ends: list[tuple[str, str]]) -> int:
    segs: list[Segment] = []
    for k, pts in enumerate(lines):
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            segs.append((k, x0, y0, x1, y1))
    band: dict[int, list[int]] = defaultdict(list)
    for i, (_, _, y0, _, y1) in enumerate(segs):
        for b in range(int(min(y0, y1) // 40), int(max(y0, y1) // 40) + 1):
            band[b].append(i)
    seen, count = set(), 0
    for idx in band.values():
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                i, j = idx[a], idx[b]
                if (i, j) in seen:
                    continue
                seen.add((i, j))
                ki, kj = segs[i][0], segs[j][0]
                if ki == kj or set(ends[ki]) & set(ends[kj]):
                    continue
                if _intersect(segs[i][1:], segs[j][1:]):
                    count += 1
    return count


def _intersect(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
    def orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
        return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)

    d1 = orient(*q[:2], *q[2:], *p[:2])
    d2 = orient(*q[:2], *q[2:], *p[2:])
    d3 = orient(*p[:2], *p[2:], *q[:2])
    d4 = orient(*p[:2], *p[2:], *q[2:])
    return d1 * d2 < 0 and d3 * d4 < 0


def ours(boxes: list[Box], edges: list[tuple[str, str]]) -> tuple[float, float, list]:
    lay = layout(boxes, edges)
    return lay.width, lay.height, lay.edges


def dot(boxes: list[Box], edges: list[tuple[str, str]]) -> tuple[float, float, list]:
    import pygraphviz

    g = pygraphviz.AGraph(directed=True, ranksep="0.5", nodesep="0.3")
    subgraphs: dict[tuple[str, ...], object] = {(): g}

    def cluster(path: tuple[str, ...]) -> object:
        if path not in subgraphs:
            parent = cluster(path[:-1])
            subgraphs[path] = parent.add_subgraph(name=f"cluster_{len(subgraphs)}")  # type: ignore[attr-defined]
        return subgraphs[path]

    for b in boxes:
        where = cluster(b.groups)
        where.add_node(b.id, label="", shape="box", fixedsize="true", width=b.width / 72, height=b.height / 72)  # type: ignore[attr-defined]
    for s, d in edges:
        g.add_edge(s, d)
    g.layout(prog="dot")
    x0, y0, x1, y1 = (float(v) for v in g.graph_attr["bb"].split(","))
    lines = []
    for s, d in edges:
        pos = g.get_edge(s, d).attr["pos"]
        pts = [tuple(float(v) for v in p.split(",")[-2:]) for p in pos.split() if not p.startswith(("e,", "s,"))]
        lines.append(pts)
    return x1 - x0, y1 - y0, lines


def grandalf(boxes: list[Box], edges: list[tuple[str, str]]) -> tuple[float, float, list]:
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout
    from grandalf.routing import route_with_lines

    class View:
        def __init__(self, w: float, h: float) -> None:
            self.w, self.h, self.xy = w, h, (0.0, 0.0)

    vs = {b.id: Vertex(b.id) for b in boxes}
    for b in boxes:
        vs[b.id].view = View(b.width, b.height)
    es = [Edge(vs[s], vs[d]) for s, d in edges]
    g = Graph(list(vs.values()), es)
    lines = []
    for comp in g.C:
        for e in comp.sE:
            e.view = type("EdgeView", (), {"setpath": lambda self, pts: setattr(self, "pts", pts)})()
        sug = SugiyamaLayout(comp)
        sug.route_edge = route_with_lines
        sug.init_all()
        sug.draw(3)
        lines += [e.view.pts for e in comp.sE]
    xs = [v.view.xy[0] for v in vs.values()]
    ys = [v.view.xy[1] for v in vs.values()]
    return max(xs) - min(xs), max(ys) - min(ys), lines


def random_dag(n: int, seed: int = 0) -> tuple[list[Box], list[tuple[str, str]]]:
    rng = random.Random(seed)
    boxes = [Box(f"n{i}", rng.choice([80.0, 120.0, 200.0]), 38.0) for i in range(n)]
    edges = [(f"n{i - 1}", f"n{i}") for i in range(1, n)]
    edges += [(f"n{i}", f"n{i + rng.randint(2, 12)}") for i in range(0, n - 12, 3)]  # skips
    return boxes, edges


def _graphs() -> list[tuple[str, list[Box], list[tuple[str, str]]]]:
    out = []
    for name, depth in CASES:
        loaded = load_model(name)
        view: GraphView = graph(loaded.model, loaded.inputs(None), depth=depth, fold=False, model_name=name)
        boxes = view.boxes()
        out.append((f"{name} depth {depth}", boxes, [(e.src, e.dst) for e in view.edges]))
    out.append(("random DAG", *random_dag(1000)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-grandalf-over", type=int, default=400, help="nodes past which grandalf is skipped")
    args = parser.parse_args()
    engines: list[tuple[str, Callable]] = [("archinspect", ours), ("pygraphviz dot", dot), ("grandalf", grandalf)]
    print(f"{'graph':<24} {'nodes':>5} {'edges':>5}  {'engine':<15} {'layout s':>9} {'width':>7} {'height':>7} "
          f"{'crossings':>9}")
    for label, boxes, edges in _graphs():
        for engine, run in engines:
            if engine == "grandalf" and len(boxes) > args.skip_grandalf_over:
                print(f"{label:<24} {len(boxes):>5} {len(edges):>5}  {engine:<15} {'skipped (too slow)':>9}")
                continue
            try:
                best = float("inf")
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    w, h, lines = run(boxes, edges)
                    best = min(best, time.perf_counter() - start)
            except ImportError as exc:
                print(f"{label:<24} {len(boxes):>5} {len(edges):>5}  {engine:<15} not installed ({exc.name})")
                continue
            cross = _crossings(lines, edges)
            print(f"{label:<24} {len(boxes):>5} {len(edges):>5}  {engine:<15} {best:>9.3f} {w:>7.0f} {h:>7.0f} "
                  f"{cross:>9}")


if __name__ == "__main__":
    main()
