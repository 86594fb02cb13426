"""``archinspect graph``'s views: SVG, self-contained HTML, DOT, Mermaid and JSON of an :class:`ArchGraph`.

:class:`GraphView` is what :func:`archinspect.graph` returns: it displays itself in a notebook (SVG, or the
interactive HTML) and writes every format. Text on the boxes (:func:`node_lines`) is worded once for all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from archinspect.analyses.graph import architecture_graph, attach_times
from archinspect.analyses.graph_types import ArchGraph, GraphEdge, GraphNode
from archinspect.errors import UsageError, typed_errors
from archinspect.render.escape import printable
from archinspect.render.graph_formats import dot, mermaid
from archinspect.render.graph_html import inline, page
from archinspect.render.graph_text import CHAR_W, LINE_H, fmt_seconds, node_lines, size
from archinspect.render.layout import Box, Layout, layout
from archinspect.text import fmt_bytes, fmt_count, shape_text, short_path

if TYPE_CHECKING:
    from archinspect.bench.profile_report import ProfileReport

FORMATS = ("svg", "html", "dot", "mermaid", "json")
METRICS = {"macs": "MACs", "params": "params", "memory": "output bytes", "time": "time"}
SKIP_COLOUR = "#2b6cb0"
EDGE_COLOUR = "#555"
UNTIMED_FILL = "#e4e4e4"  # a box with no measured time under --color time
FOLD_COLOUR = "#b5541c"
TIME_REPEATS = 5  # timed passes for color="time": a picture, not a benchmark
TIME_WARMUP = 1
LEGEND_FONT = 10.0
LEGEND_LINE = 14.0
SWATCH_W = 70.0


def _metric(node: GraphNode, metric: str) -> float | None:
    if metric == "time":
        return node.time_s
    return float({"macs": node.macs, "params": node.params, "memory": node.output_bytes}[metric])


def metric_text(value: float, metric: str) -> str:
    """A metric's value as the legend writes it: ``4.089 GMACs``, ``25.557 M params``, ``3.06 MiB``, ``1.23 ms``."""
    if metric == "time":
        return fmt_seconds(value)
    if metric == "memory":
        return fmt_bytes(value)
    return fmt_count(value, "MACs") if metric == "macs" else f"{fmt_count(value)} params"


def _fill(value: float, top: float) -> str:
    """White to orange on a log scale of the metric (0 stays white)."""
    if value <= 0 or top <= 0:
        return "#ffffff"
    t = math.log1p(value) / math.log1p(top)
    low, high = (255, 255, 255), (246, 140, 60)
    return "#" + "".join(f"{round(a + (c - a) * t):02x}" for a, c in zip(low, high, strict=False))


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise UsageError(f"color={metric!r} is not a metric; accepted: {', '.join(METRICS)}", param="color")


@dataclass
class Cluster:
    """A dashed box drawn around nodes: a module call above the depth, or an open fold's frame."""

    id: str
    title: str
    subtitle: str
    fold: str | None = None  # the fold whose open members it frames


class GraphView:
    """An :class:`ArchGraph` laid out, ready to write as SVG, HTML, DOT, Mermaid or JSON.

    ``top``: the metric value drawn darkest (default: the largest among the drawn boxes; the HTML page gives
    every state of its folds the folded picture's, so that a box keeps its colour when a fold opens)."""

    def __init__(self, graph: ArchGraph, metric: str = "macs", top: float | None = None) -> None:
        _check_metric(metric)
        self.graph = graph
        self.metric = metric
        self.nodes, self.edges, groups = graph.visible()
        self.groups = [g for g in groups if g.record != 0]
        shown = {n.id for n in self.nodes} | {g.id for g in self.groups}
        self.frames: dict[str, str] = {}  # a drawn member of an open fold -> the fold's id
        for fid in sorted(graph.expanded):
            members = graph.folds[fid].members if fid in graph.folds else []
            if members and members[0] in shown:
                self.frames.update({m: fid for m in members if m in shown})
        self.elided = self._single_fold_groups()
        values = [v for v in (_metric(n, metric) for n in self.nodes if n.kind in ("module", "fold")) if v]
        self.top = top if top is not None else max(values, default=0.0)
        self._layout: Layout | None = None

    def _single_fold_groups(self) -> set[str]:
        """Groups that hold nothing but one fold (closed, or open in its frame): the fold's box or frame says
        all the group would (``layer1.0 … 2``), so the group's border is not drawn (a shorter picture)."""
        out = set()
        for g in self.groups:
            nodes = [n for n in self.nodes if n.group == g.id]
            inside = [n.id for n in nodes] + [c.id for c in self.groups if c.parent == g.id]
            folds = {self.frames.get(x) for x in inside}
            closed = len(nodes) == len(inside) == 1 and nodes[0].kind == "fold"
            fold = next(iter(folds)) if len(folds) == 1 else None
            if closed or (fold is not None and len(inside) == len(self.graph.folds[fold].members)):
                out.add(g.id)
        return out

    # ---- layout -------------------------------------------------------------------------------------
    def _ancestry(self, group: str | None, item: str | None = None) -> tuple[str, ...]:
        """The clusters ``item`` (in ``group``) is drawn in, outermost first: drawn groups and open folds' frames."""
        chain: list[str] = []
        if item is not None and item in self.frames:
            chain.append(f"open:{self.frames[item]}")
        while group is not None and group in self.graph.groups and self.graph.groups[group].record != 0:
            if group not in self.elided:
                chain.append(group)
            if group in self.frames:
                chain.append(f"open:{self.frames[group]}")
            group = self.graph.groups[group].parent
        return tuple(reversed(chain))

    def clusters(self) -> list[Cluster]:
        """The drawn clusters, outermost first."""
        out = [Cluster(g.id, short_path(g.name, 48), g.type) for g in self.groups if g.id not in self.elided]
        for fid in dict.fromkeys(self.frames.values()):
            fold = self.graph.folds[fid]
            out.append(Cluster(f"open:{fid}", f"▾ {fold.type}", "", fid))  # its members say their names
        depth = {c: i for b in self.boxes() for i, c in enumerate(b.groups)}
        return sorted(out, key=lambda c: depth.get(c.id, 0))

    def lines(self, node: GraphNode) -> list[str]:
        """The text on ``node``'s box, its name relative to the cluster it is drawn in."""
        group = self.graph.groups.get(node.group) if node.group else None
        within = group.name if group is not None and group.record != 0 and group.id not in self.elided else ""
        return node_lines(node, within)

    def boxes(self) -> list[Box]:
        """What the layout places: every drawn node with its size and clusters, in reading order."""
        return [Box(n.id, *size(n, self.lines(n)), self._ancestry(n.group, n.id)) for n in self.reading_order()]

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = layout(self.boxes(), [(e.src, e.dst) for e in self.edges])
        return self._layout

    def reading_order(self) -> list[GraphNode]:
        """The drawn nodes: inputs, then modules and operators in the order they ran, then outputs."""
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

    # ---- legend -------------------------------------------------------------------------------------
    def legend(self) -> list[str]:
        """The lines under the drawing: what the fill means (and, for time, what was measured)."""
        name = METRICS[self.metric]
        top = metric_text(self.top, self.metric) if self.top > 0 else "none drawn"
        lines = [f"fill: {name} per box (log scale), white = 0 to orange = {top}"]
        if self.metric == "time":
            t = self.graph.timing
            lines.append(f"time: {t.get('device', '?')}, median of {t.get('repeats', '?')} timed passes, "
                         "each module call with everything it calls")
            lines.append("grey: no time measured · operators (rounded): not timed apart, their time counts in the "
                         "module that runs them")
        return lines

    @property
    def size(self) -> tuple[float, float]:
        """The SVG's natural width and height in px: the drawing and the legend under it."""
        lay = self.layout
        legend = self.legend()
        wide = SWATCH_W + 16 + max(len(t) for t in legend) * CHAR_W * LEGEND_FONT / 11
        return max(lay.width, wide), lay.height + LEGEND_LINE * len(legend) + 6

    def _legend_svg(self) -> list[str]:
        y = self.layout.height + 4
        out = [
            '<g class="legend">',
            f'<rect x="10" y="{y:.1f}" width="{SWATCH_W:.0f}" height="10" fill="url(#aig-scale)" stroke="#999" '
            'stroke-width="0.5"/>',
        ]
        for i, text in enumerate(self.legend()):
            out.append(f'<text x="{SWATCH_W + 16:.0f}" y="{y + 9 + i * LEGEND_LINE:.1f}" font-size="{LEGEND_FONT:.0f}" '
                       f'fill="#444">{escape(text)}</text>')
        out.append("</g>")
        return out

    # ---- SVG ----------------------------------------------------------------------------------------
    def svg(self, standalone: bool = True) -> str:
        """The drawn graph as one SVG document (fonts: the system's sans-serif)."""
        width, height = self.size
        out = self.svg_start(width, height)
        if standalone:
            out.append(f'<rect class="paper" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>')
        out += self.draw()
        out.append("</svg>")
        return "\n".join(out)

    def svg_start(self, width: float, height: float) -> list[str]:
        """The root element of a drawing ``width`` × ``height`` px at 1 px per unit, its defs and title."""
        return [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11" '
            'class="archinspect-graph">',
            _DEFS,
            f"<title>{escape(self.graph.model)}: depth {self.graph.depth}</title>",
        ]

    def draw(self) -> list[str]:
        """SVG elements of the laid-out nodes, edges, clusters and legend."""
        lay = self.layout
        out = []
        for c in self.clusters():
            if c.id in lay.groups:
                out.append(_svg_cluster(c, *lay.groups[c.id]))
        labelled: set[tuple[str, tuple[int, ...]]] = set()
        for e, pts in zip(self.edges, lay.edges, strict=False):
            skip = lay.span(e.src, e.dst) > 1
            colour = SKIP_COLOUR if skip else EDGE_COLOUR
            out.append(
                f'<path class="edge{" skip" if skip else ""}" data-src="{e.src}" data-dst="{e.dst}" '
                f'd="{_path(pts)}" fill="none" stroke="{colour}" stroke-width="{1.6 if skip else 1.2}" '
                'marker-end="url(#arrow)"/>'
            )
            if (e.src, e.shape) not in labelled:
                labelled.add((e.src, e.shape))
                (x, y), (x1, y1) = pts[0], pts[1]
                out.append(
                    f'<text class="shape" x="{(x + x1) / 2 + 5:.1f}" y="{(y + y1) / 2 + 4:.1f}" fill="#2f4f2f" '
                    f'font-size="10">{escape(shape_text(e.shape))}</text>'
                )
        out += [self._svg_node(n, lay) for n in self.nodes]
        out += self._legend_svg()
        return out

    def _box_fill(self, n: GraphNode) -> str:
        if n.kind in ("input", "output"):
            return "#e8f1e8"
        if n.kind not in ("module", "fold"):
            return "#ffffff"
        value = _metric(n, self.metric)
        if value is None:
            return UNTIMED_FILL
        unit = 1e6 if self.metric == "time" else 1.0  # the log scale of a time counts microseconds
        return _fill(value * unit, self.top * unit)

    def _svg_node(self, n: GraphNode, lay: Layout) -> str:
        p = lay.nodes[n.id]
        x0, y0 = p.x - p.width / 2, p.y - p.height / 2
        lines = self.lines(n)
        fill = self._box_fill(n)
        stroke = {"fold": FOLD_COLOUR, "op": "#6b7b8c"}.get(n.kind, "#333")
        rx = 11 if n.kind == "op" else 4
        extra = ""
        if n.kind == "fold":  # a stack: a second outline behind
            extra = (f'<rect x="{x0 + 4:.1f}" y="{y0 + 4:.1f}" width="{p.width:.1f}" height="{p.height:.1f}" '
                     f'rx="{rx}" fill="{fill}" stroke="{stroke}"/>')
        parts = [
            f'<g class="node {n.kind}" data-id="{n.id}">{extra}'
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
        return dot(self)

    def mermaid(self) -> str:
        """A Mermaid flowchart (subgraphs for groups) for Markdown, GitHub and JupyterLab."""
        return mermaid(self)

    def json(self) -> str:
        return json.dumps(self.graph.to_dict(), indent=2) + "\n"

    def html(self) -> str:
        """One self-contained page: the SVG, pan and zoom, details on hover, click a fold to open it (the
        graph laid out again with it open: see :mod:`archinspect.render.graph_html`)."""
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


def _svg_cluster(c: Cluster, x: float, y: float, w: float, h: float) -> str:
    """A module's dashed box with its name and type; an open fold's frame in the fold's colour, its title
    (``▾ Bottleneck × 6``) a click target in the HTML page."""
    if c.fold:
        stroke, back, head = FOLD_COLOUR, "#fff6ee", f'class="fold-title" data-fold="{c.fold}" font-weight="bold" '
        attrs = f'class="group frame" data-id="{c.id}" data-fold="{c.fold}"'
    else:
        stroke, back, head, attrs = "#9aa9bb", "#f3f6fa", "", f'class="group" data-id="{c.id}"'
    colour = FOLD_COLOUR if c.fold else "#4a5a6e"
    return (
        f'<g {attrs}><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="{back}" '
        f'fill-opacity="0.55" stroke="{stroke}" stroke-dasharray="4 3"/>'
        f'<text {head}x="{x + 6:.1f}" y="{y + 12:.1f}" fill="{colour}">{escape(printable(c.title))} '
        f'<tspan fill="#7a8a9e" font-weight="normal">{escape(printable(c.subtitle))}</tspan></text></g>'
    )


_DEFS = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker>'
         '<linearGradient id="aig-scale"><stop offset="0" stop-color="#ffffff"/>'
         '<stop offset="1" stop-color="#f68c3c"/></linearGradient></defs>')


def _path(pts: list[tuple[float, float]]) -> str:
    """A smooth path through the points: vertical tangents at every point."""
    d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        my = (y0 + y1) / 2
        d.append(f"C{x0:.1f},{my:.1f} {x1:.1f},{my:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(d)


def time_graph(arch: ArchGraph, report: ProfileReport) -> None:
    """Give ``arch``'s module nodes and folds the times ``report`` (a profile of the same model) measured: a
    module call's time is the sum of its own times over its subtree (its children included); module calls are
    matched by qualified name and call number. A report of another model is a :class:`UsageError`."""
    seconds = {(r.name, r.call): sum(x.self_s for x in report.subtree(r.index)) for r in report.records if r.ran}
    s = report.settings
    timing = {"device": s.get("device"), "repeats": s.get("repeats"), "statistic": "median",
              "dtype": s.get("dtype"), "threads": s.get("threads"), "source": "archinspect.profile"}
    missing = attach_times(arch, seconds, timing)
    modules = [n for n in arch.nodes.values() if n.kind == "module" and n.ran]
    if modules and missing == len(modules):
        raise UsageError(f"profile= is of {report.model_name!r}: none of this graph's module calls is in it; "
                         "accepted: a ProfileReport of the same model", param="profile")
    if missing:
        arch.notes.append(f"{missing} module call(s) have no time in the profile (drawn grey)")


def _profile(model: Any, inputs: Any, repeats: int, pass_options: dict[str, Any]) -> ProfileReport:
    """``archinspect.profile`` of ``model`` for ``color="time"``: few repeats (a picture, not a benchmark)."""
    from archinspect.bench.profile import profile

    device = str(pass_options.get("device") or "auto")
    if device == "meta":
        raise UsageError("color='time' times the model on a device that runs it; accepted: device='auto', 'cpu', "
                         "'cuda', 'cuda:N'", param="device")
    if pass_options.get("kwargs"):
        raise UsageError("color='time' times positional inputs only: profile the model yourself and pass "
                         "profile=", param="color")
    options = {"dtype": str(pass_options["dtype"]).removeprefix("torch.")} if pass_options.get("dtype") else {}
    return profile(model, inputs, device=device, repeats=repeats, warmup_passes=TIME_WARMUP,
                   name=pass_options.get("model_name"), **options)


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
    profile: ProfileReport | None = None,
    repeats: int = TIME_REPEATS,
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
        color: what colours the boxes: ``macs`` (default), ``params``, ``memory`` (output bytes) or ``time``
            (measured: each module call's median time, children included).
        profile: a :func:`archinspect.profile` report of the same model to take the times from (with any
            ``color``: the boxes then show their times). Without it, ``color="time"`` profiles the model on
            ``device`` (``auto``: CUDA when present, else CPU) with ``repeats`` timed passes.
        repeats: timed passes when ``color="time"`` profiles (default 5; the median is drawn).
        **pass_options: ``device``, ``dtype``, ``mode``, ``kwargs``, ``cpu_model``, ``model_name``, ``force``.

    Example:
        >>> view = archinspect.graph(archinspect.create_model("resnet50"), "1,3,224,224")
        >>> open("resnet50.svg", "w").write(view.svg())
        >>> report = archinspect.profile(model, "1,3,224,224", device="cpu")  # doctest: +SKIP
        >>> archinspect.graph(model, "1,3,224,224", color="time", profile=report)  # doctest: +SKIP
    """
    _check_metric(color)
    expand = [expand] if isinstance(expand, str) else list(expand)
    only = [only] if isinstance(only, str) else list(only)
    arch = architecture_graph(model, inputs, depth=depth, fold=fold, expand=expand, only=only, **pass_options)
    if profile is None and color == "time":
        profile = _profile(model, inputs, repeats, pass_options)
    if profile is not None:
        time_graph(arch, profile)
    return GraphView(arch, color)


__all__ = ["FORMATS", "GraphEdge", "GraphView", "METRICS", "graph", "node_lines", "time_graph"]
