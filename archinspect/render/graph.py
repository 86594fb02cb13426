"""``archinspect graph``'s views: SVG, self-contained HTML, DOT, Mermaid and JSON of an :class:`ArchGraph`.

:class:`GraphView` is what :func:`archinspect.graph` returns: it displays itself in a notebook (SVG, or the
interactive HTML) and writes every format. Text on the boxes (:func:`node_lines`) is worded once for all.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from archinspect.analyses.graph import ArchGraph, GraphEdge, GraphGroup, GraphNode, architecture_graph
from archinspect.errors import UsageError, typed_errors
from archinspect.render.escape import printable
from archinspect.render.graph_html import inline, page
from archinspect.render.graph_text import LINE_H, node_lines, size
from archinspect.render.layout import Box, Layout, layout
from archinspect.text import shape_text, short_path

FORMATS = ("svg", "html", "dot", "mermaid", "json")
METRICS = {"macs": "MACs", "params": "params", "memory": "output bytes"}
SKIP_COLOUR = "#2b6cb0"
EDGE_COLOUR = "#555"


def _metric(node: GraphNode, metric: str) -> float:
    return float({"macs": node.macs, "params": node.params, "memory": node.output_bytes}[metric])


def _fill(value: float, top: float) -> str:
    """White to orange on a log scale of the metric (0 stays white)."""
    if value <= 0 or top <= 0:
        return "#ffffff"
    t = math.log1p(value) / math.log1p(top)
    low, high = (255, 255, 255), (246, 140, 60)
    return "#" + "".join(f"{round(a + (c - a) * t):02x}" for a, c in zip(low, high, strict=False))


class GraphView:
    """An :class:`ArchGraph` laid out, ready to write as SVG, HTML, DOT, Mermaid or JSON."""

    def __init__(self, graph: ArchGraph, metric: str = "macs") -> None:
        if metric not in METRICS:
            raise UsageError(f"color={metric!r} is not a metric; accepted: {', '.join(METRICS)}", param="color")
        self.graph = graph
        self.metric = metric
        self.nodes, self.edges, groups = graph.visible()
        self.groups = [g for g in groups if g.record != 0]
        self._layout: Layout | None = None

    # ---- layout -------------------------------------------------------------------------------------
    def _ancestry(self, group: str | None) -> tuple[str, ...]:
        chain: list[str] = []
        by_id = {g.id: g for g in self.graph.groups.values()}
        while group is not None and group in by_id and by_id[group].record != 0:
            chain.append(group)
            group = by_id[group].parent
        return tuple(reversed(chain))

    def lines(self, node: GraphNode) -> list[str]:
        """The text on ``node``'s box, its name relative to the cluster it is drawn in."""
        group = self.graph.groups.get(node.group) if node.group else None
        within = group.name if group is not None and group.record != 0 else ""
        return node_lines(node, within)

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            boxes = [Box(n.id, *size(n, self.lines(n)), self._ancestry(n.group)) for n in self._reading_order()]
            self._layout = layout(boxes, [(e.src, e.dst) for e in self.edges])
        return self._layout

    def _reading_order(self) -> list[GraphNode]:
        return self._reading_order_of(self.nodes)

    @staticmethod
    def _reading_order_of(nodes: Any) -> list[GraphNode]:
        """Inputs, then modules and operators in the order they ran, then outputs."""

        def key(n: GraphNode) -> tuple[int, float]:
            if n.kind == "input":
                return (0, 0)
            if n.kind == "output":
                return (2, 0)
            return (1, n.order)

        return sorted(nodes, key=key)

    # ---- SVG ----------------------------------------------------------------------------------------
    def svg(self, standalone: bool = True) -> str:
        """The drawn graph as one SVG document (fonts: the system's sans-serif)."""
        lay = self.layout
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
            f'width="{lay.width:.0f}" height="{lay.height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
            f'font-size="11" class="archinspect-graph">',
            _DEFS,
        ]
        if standalone:
            out.append(f'<rect class="paper" width="{lay.width:.0f}" height="{lay.height:.0f}" fill="#ffffff"/>')
        out.append(f"<title>{escape(self.graph.model)}: depth {self.graph.depth}</title>")
        out += self.draw(self.nodes, self.edges, self.groups, lay)
        out.append("</svg>")
        return "\n".join(out)

    def draw(self, nodes: list[GraphNode], edges: list[GraphEdge], groups: list[GraphGroup], lay: Layout) -> list[str]:
        """SVG elements for laid-out nodes, edges and groups (coordinates kept in data-* for the HTML page)."""
        top = max((_metric(n, self.metric) for n in self.nodes), default=0.0)
        out = []
        for g in sorted(groups, key=lambda g: len(self._ancestry(g.id))):
            if g.id not in lay.groups:
                continue
            x, y, w, h = lay.groups[g.id]
            out.append(
                f'<g class="group" data-id="{g.id}" data-y0="{y:.1f}" data-y1="{y + h:.1f}">'
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'rx="6" fill="#f3f6fa" fill-opacity="0.55" stroke="#9aa9bb" stroke-dasharray="4 3"/>'
                f'<text x="{x + 6:.1f}" y="{y + 12:.1f}" fill="#4a5a6e">{escape(printable(short_path(g.name, 48)))} '
                f'<tspan fill="#7a8a9e">{escape(printable(g.type))}</tspan></text></g>'
            )
        labelled: set[tuple[str, tuple[int, ...]]] = set()
        for e, pts in zip(edges, lay.edges, strict=False):
            skip = lay.span(e.src, e.dst) > 1
            colour = SKIP_COLOUR if skip else EDGE_COLOUR
            data = ";".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(
                f'<path class="edge{" skip" if skip else ""}" data-src="{e.src}" data-dst="{e.dst}" data-pts="{data}" '
                f'd="{_path(pts)}" fill="none" stroke="{colour}" stroke-width="{1.6 if skip else 1.2}" '
                'marker-end="url(#arrow)"/>'
            )
            if (e.src, e.shape) not in labelled:
                labelled.add((e.src, e.shape))
                (x, y), (x1, y1) = pts[0], pts[1]
                ly = (y + y1) / 2 + 4
                out.append(
                    f'<text class="shape" data-y="{ly:.1f}" x="{(x + x1) / 2 + 5:.1f}" y="{ly:.1f}" fill="#2f4f2f" '
                    f'font-size="10">{escape(shape_text(e.shape))}</text>'
                )
        for n in nodes:
            out.append(self._svg_node(n, lay, top))
        return out

    def _svg_node(self, n: GraphNode, lay: Layout, top: float) -> str:
        p = lay.nodes[n.id]
        x0, y0 = p.x - p.width / 2, p.y - p.height / 2
        lines = self.lines(n)
        fill = _fill(_metric(n, self.metric), top) if n.kind in ("module", "fold") else "#ffffff"
        if n.kind in ("input", "output"):
            fill = "#e8f1e8"
        stroke = {"fold": "#b5541c", "op": "#6b7b8c"}.get(n.kind, "#333")
        rx = 11 if n.kind == "op" else 4
        extra = ""
        if n.kind == "fold":  # a stack: a second outline behind
            extra = (f'<rect x="{x0 + 4:.1f}" y="{y0 + 4:.1f}" width="{p.width:.1f}" height="{p.height:.1f}" '
                     f'rx="{rx}" fill="{fill}" stroke="{stroke}"/>')
        parts = [
            f'<g class="node {n.kind}" data-id="{n.id}" data-y="{p.y:.1f}">{extra}'
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{p.width:.1f}" height="{p.height:.1f}" rx="{rx}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{1.6 if n.kind == "fold" else 1}"/>'
        ]
        first_y = p.y - (len(lines) - 1) * LINE_H / 2 + 4
        for i, text in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 and n.kind != "op" else ""
            colour = "#222" if i < 2 else "#5a3a1a"
            parts.append(
                f'<text x="{p.x:.1f}" y="{first_y + i * LINE_H:.1f}" text-anchor="middle" fill="{colour}"{weight}>'
                f"{escape(text)}</text>"
            )
        parts.append("</g>")
        return "".join(parts)

    # ---- other formats ------------------------------------------------------------------------------
    def dot(self) -> str:
        """Graphviz DOT (clusters for groups), for people who have ``dot``."""
        out = [f'digraph "{_q(self.graph.model)}" {{', "  rankdir=TB; node [shape=box, fontname=Helvetica, "
               'fontsize=10]; edge [fontname=Helvetica, fontsize=9];']

        def box(n: GraphNode) -> str:
            shape = ", shape=ellipse" if n.kind == "op" else ", style=bold" if n.kind == "fold" else ""
            return f'"{n.id}" [label="{_q(chr(10).join(self.lines(n)))}"{shape}];'

        out += self._nested(box, lambda g: f'subgraph "cluster_{g.id}" {{ label="{_q(g.name)} ({_q(g.type)})"; '
                            "style=dashed;", "}")
        for e in self.edges:
            out.append(f'  "{e.src}" -> "{e.dst}" [label="{shape_text(e.shape)}"];')
        out.append("}")
        return "\n".join(out) + "\n"

    def _nested(self, box: Any, opening: Any, closing: str) -> list[str]:
        """Lines for the drawn nodes inside their nested groups: ``box(node)``, ``opening(group)`` ... ``closing``."""
        children, members = self._nesting()
        out: list[str] = []

        def emit(group: str | None, indent: str) -> None:
            out.extend(indent + box(n) for n in members.get(group, []))
            for g in children.get(group, []):
                out.append(indent + opening(g))
                emit(g.id, indent + "  ")
                out.append(indent + closing)

        emit(None, "  ")
        return out

    def _nesting(self) -> tuple[dict[str | None, list[GraphGroup]], dict[str | None, list[GraphNode]]]:
        """Drawn groups by their drawn parent group, and nodes (in reading order) by their drawn group."""
        children: dict[str | None, list[GraphGroup]] = {}
        for g in self.groups:
            children.setdefault(self._parent_drawn(g.parent), []).append(g)
        members: dict[str | None, list[GraphNode]] = {}
        for n in self._reading_order():
            members.setdefault(self._parent_drawn(n.group), []).append(n)
        return children, members

    def _parent_drawn(self, group: str | None) -> str | None:
        drawn = {g.id for g in self.groups}
        while group is not None and group not in drawn:
            group = self.graph.groups[group].parent if group in self.graph.groups else None
        return group

    def mermaid(self) -> str:
        """A Mermaid flowchart (subgraphs for groups) for Markdown, GitHub and JupyterLab."""
        ids = {n.id: f"n{i}" for i, n in enumerate(self._reading_order())}
        gids = {g.id: f"g{i}" for i, g in enumerate(self.groups)}
        out = ["flowchart TD"]
        def box(n: GraphNode) -> str:
            text = "<br/>".join(_m(t) for t in self.lines(n))
            left, right = {"op": ("([", "])"), "fold": ("[[", "]]"), "input": ("[/", "/]"),
                           "output": ("[\\", "\\]")}.get(n.kind, ("[", "]"))
            return f'{ids[n.id]}{left}"{text}"{right}'

        out += self._nested(box, lambda g: f'subgraph {gids[g.id]}["{_m(g.name)} ({_m(g.type)})"]', "end")
        for e in self.edges:
            out.append(f'  {ids[e.src]} -->|"{shape_text(e.shape)}"| {ids[e.dst]}')
        return "\n".join(out) + "\n"

    def json(self) -> str:
        return json.dumps(self.graph.to_dict(), indent=2) + "\n"

    def html(self) -> str:
        """One self-contained page: the SVG, pan and zoom, details on hover, click a fold to open it."""
        return page(self)

    def render(self, fmt: str) -> str:
        if fmt not in FORMATS:
            raise UsageError(f"format={fmt!r} is not a graph format; accepted: {', '.join(FORMATS)}", param="format")
        return getattr(self, fmt)()

    # ---- notebooks ----------------------------------------------------------------------------------
    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        """Inline and interactive in Jupyter: the page in an iframe-free block that scrolls, never clips."""
        return inline(self)

    def __repr__(self) -> str:
        return (f"<GraphView {self.graph.model} depth={self.graph.depth}: {len(self.nodes)} nodes, "
                f"{len(self.edges)} edges, {len(self.graph.folds)} folds>")


_DEFS = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>')


def _path(pts: list[tuple[float, float]]) -> str:
    """A smooth path through the points: vertical tangents at every point."""
    d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        my = (y0 + y1) / 2
        d.append(f"C{x0:.1f},{my:.1f} {x1:.1f},{my:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(d)


def _q(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _m(text: str) -> str:
    return escape(text).replace('"', "#quot;")


@typed_errors
def graph(
    model: Any,
    inputs: Any = None,
    *,
    depth: int = 2,
    fold: bool = True,
    expand: Any = (),
    only: Any = (),
    color: str = "macs",
    **pass_options: Any,
) -> GraphView:
    """The architecture of ``model`` as a graph that draws itself (SVG, HTML, DOT, Mermaid, JSON).

    Args:
        model: an ``nn.Module`` (never modified).
        inputs: shapes, InputSpecs or tensors, as for :func:`archinspect.inspect`.
        depth: module calls at this depth (and leaves above it) are nodes. Default 2.
        fold: runs of identical chained blocks as one node ``Type × N``. Default True.
        expand: folds to open: ``"all"`` or module names (``"layer3"``).
        only: module names: draw only what is inside them (``"inception3a"``).
        color: what colours the boxes: ``macs`` (default), ``params`` or ``memory`` (output bytes).
        **pass_options: ``device``, ``dtype``, ``mode``, ``kwargs``, ``cpu_model``, ``model_name``, ``force``.

    Example:
        >>> view = archinspect.graph(archinspect.create_model("resnet50"), "1,3,224,224")
        >>> open("resnet50.svg", "w").write(view.svg())
    """
    if color not in METRICS:
        raise UsageError(f"color={color!r} is not a metric; accepted: {', '.join(METRICS)}", param="color")
    expand = [expand] if isinstance(expand, str) else list(expand)
    only = [only] if isinstance(only, str) else list(only)
    return GraphView(
        architecture_graph(model, inputs, depth=depth, fold=fold, expand=expand, only=only, **pass_options), color
    )


__all__ = ["FORMATS", "GraphEdge", "GraphView", "METRICS", "graph", "node_lines"]
