"""``archinspect graph``: the architecture as a dataflow graph at a chosen depth, from one pass.

:func:`architecture_graph` runs the pass with a :class:`~archinspect.core.provenance.ProvenanceTracker`
and :func:`build_graph` turns its depth-free dataflow into an :class:`ArchGraph` at ``depth``:

- a **node** per module call at ``depth`` (or a leaf above it), per operator that ran outside such a
  module and carries data between nodes (add, cat, view, mean, ...), per model input and output;
- an **edge** per tensor from the node that produced it to each node that read it, with its shape; the
  producer of a tensor at ``depth`` is the outermost module call at that depth that returned it (a ResNet
  block's output comes from ``layer1.2`` at depth 2, from ``layer1`` at depth 1);
- a **group** (a drawn cluster) per module call above ``depth`` with submodules: its nodes sit inside it;
- a **fold** per run of two or more consecutive sibling blocks of the same type through which the data
  runs as a chain (each block's outputs feed only the next one, each next one reads only from the
  previous one): drawn as one node ``Bottleneck × 3`` with the summed cost, unless expanded.

Costs: a module node carries its call's inclusive figures, an operator node its own, a group what it ran
itself and no node shows (operators that carried no data between nodes); so the params and MACs of all
nodes and groups sum to the report's totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from archinspect.analyses.graph_types import ArchGraph, GraphEdge, GraphGroup, GraphNode
from archinspect.analyses.shapes import inspect
from archinspect.core.provenance import Provenance, ProvenanceTracker, Source
from archinspect.core.report import LayerRecord, Report
from archinspect.errors import UsageError, typed_errors
from archinspect.text import fmt_shape

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


SETTINGS = ("kernel_size", "stride", "padding", "dilation", "groups", "in_features", "out_features",
            "output_size", "scale_factor", "p")


def module_settings(module: nn.Module | None) -> dict[str, Any]:
    """The attributes that decide a layer's output shape (kernel, stride, padding, dilation, groups, ...)."""
    if module is None:
        return {}
    out = {}
    for key in SETTINGS:
        value = getattr(module, key, None)
        if isinstance(value, (int, float, tuple, str)) and not isinstance(value, bool):
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _units(records: list[LayerRecord], depth: int) -> list[int | None]:
    """For every record, the record drawn as its node at ``depth`` (itself or an ancestor), or None for a
    record above ``depth`` with children (a group)."""
    unit: list[int | None] = [None] * len(records)
    for r in records:
        up = unit[r.parent] if r.parent is not None else None
        unit[r.index] = up if up is not None else (r.index if r.depth == depth or r.is_leaf else None)
    return unit


def _signature(records: list[LayerRecord], index: int) -> tuple:
    rec = records[index]
    if rec.type in CONTAINERS:
        return (rec.type, tuple(_signature(records, c) for c in rec.children))
    return (rec.type,)


def build_graph(
    report: Report,
    prov: Provenance,
    model: nn.Module | None = None,
    depth: int = 2,
    fold: bool = True,
    expand: Iterable[str] = (),
) -> ArchGraph:
    """The :class:`ArchGraph` of one pass at ``depth`` (see the module docstring for what each part is)."""
    build = _Builder(report, prov, model, depth)
    nodes, groups = build.boxes()
    edges: dict[tuple[str, str, int], GraphEdge] = {}
    for index, sources in prov.calls.items():
        if index < len(build.unit) and build.unit[index] is not None:
            build.connect(edges, sources, f"m:{build.unit[index]}")
    op_nodes = build.operators(edges)
    for i, s in enumerate(prov.outputs):
        nodes[f"out:{i}"] = GraphNode(f"out:{i}", "output", "output", "output", input_shapes=[s.shape])
        build.connect(edges, [s], f"out:{i}")
    _keep_flowing_ops(op_nodes, edges)
    nodes.update(op_nodes)
    for op in op_nodes.values():  # a group's own figures are what no node of it shows
        owner = groups[op.group or "g:0"]
        owner.macs -= op.macs
        owner.other_ops -= op.other_ops
    graph = ArchGraph(report.model_name, depth, nodes, list(edges.values()), groups, {}, set(), report,
                      list(report.notes))
    if fold:
        graph.folds = find_folds(graph)
        graph.expanded = _expanded(graph, list(expand))
    return graph


class _Builder:
    """The parts of :func:`build_graph`: which record is drawn as which box, and where each tensor came from."""

    def __init__(self, report: Report, prov: Provenance, model: nn.Module | None, depth: int) -> None:
        self.records, self.inclusive = report.records, report.inclusive()
        self.prov = prov
        self.unit = _units(self.records, depth)
        self.modules = dict(model.named_modules()) if model is not None else {}

    def group_of(self, index: int | None) -> str | None:
        """The drawn group (a record above the depth, not the model) that record ``index`` sits in."""
        while index is not None and self.records[index].depth > 0:
            if self.unit[index] is None:
                return f"g:{index}"
            index = self.records[index].parent
        return None

    def boxes(self) -> tuple[dict[str, GraphNode], dict[str, GraphGroup]]:
        """Input nodes, a node per record drawn at the depth, a group per record above it (the model too:
        ``g:0``, never drawn, holds the model's own figures)."""
        nodes = {f"in:{key}": GraphNode(f"in:{key}", "input", "input" if isinstance(key, int) else str(key),
                                        "input", output_shapes=[shape]) for key, shape in self.prov.inputs}
        groups: dict[str, GraphGroup] = {}
        for r in self.records:
            inc = self.inclusive[r.index]
            if self.unit[r.index] == r.index:
                nodes[f"m:{r.index}"] = GraphNode(
                    f"m:{r.index}", "module", r.label, r.type, self.group_of(r.parent), r.index,
                    list(r.input_shapes), list(r.output_shapes), module_settings(self.modules.get(r.name)),
                    inc.params, inc.macs, inc.other_ops, r.output_bytes,
                    list(r.rf.size) if r.rf is not None else None, r.ran, order=float(r.index),
                )
            elif self.unit[r.index] is None:
                parent = self.group_of(r.parent) if r.depth > 0 else None
                groups[f"g:{r.index}"] = GraphGroup(f"g:{r.index}", r.label, r.type, parent, r.index,
                                                    r.params, r.macs, r.other_ops, inc.params, inc.macs)
        return nodes, groups

    def resolve(self, src: Source | None) -> str | None:
        """The box a tensor comes from at the depth: the outermost call at the depth that returned it."""
        while src is not None:
            if src.kind == "input":
                return f"in:{src.ref}"
            if src.kind == "op":
                ev = self.prov.ops[int(src.ref)]
                u = self.unit[ev.record] if ev.record is not None else None
                return f"m:{u}" if u is not None else f"op:{ev.index}"
            u = self.unit[int(src.ref)]
            if u is not None:
                return f"m:{u}"
            src = src.inner
        return None

    def connect(self, edges: dict[tuple[str, str, int], GraphEdge], sources: list[Source], dst: str) -> None:
        """An edge per tensor read by ``dst`` (one per tensor version, however many times it is read)."""
        for s in sources:
            src = self.resolve(s)
            if src is not None and src != dst:
                edges.setdefault((src, dst, id(s)), GraphEdge(src, dst, s.shape))

    def operators(self, edges: dict[tuple[str, str, int], GraphEdge]) -> dict[str, GraphNode]:
        """A node per operator that ran outside every box, and the edges into every operator."""
        op_nodes: dict[str, GraphNode] = {}
        for ev in self.prov.ops:
            u = self.unit[ev.record] if ev.record is not None else None
            if u is None:
                op_nodes[f"op:{ev.index}"] = GraphNode(
                    f"op:{ev.index}", "op", ev.name.rstrip("_") or ev.name, ev.name, self.group_of(ev.record),
                    None, [s.shape for s in ev.inputs], ev.output_shapes, macs=ev.macs, other_ops=ev.other_ops,
                    order=ev.after + 0.5 + ev.index * 1e-7)
            self.connect(edges, ev.inputs, f"m:{u}" if u is not None else f"op:{ev.index}")
        return op_nodes


def _keep_flowing_ops(op_nodes: dict[str, GraphNode], edges: dict[tuple[str, str, int], GraphEdge]) -> None:
    """Drop operator nodes that carry no data between nodes (nothing tracked in, or nothing read out)."""
    while True:
        has_in = {e.dst for e in edges.values()}
        has_out = {e.src for e in edges.values()}
        dead = [k for k in op_nodes if k not in has_in or k not in has_out]
        if not dead:
            return
        for k in dead:
            del op_nodes[k]
        for key in [key for key, e in edges.items() if e.src in dead or e.dst in dead]:
            del edges[key]


def find_folds(graph: ArchGraph) -> dict[str, GraphNode]:
    """Runs of two or more consecutive sibling blocks of one type through which the data runs as a chain."""
    records, inclusive = graph.report.records, graph.report.inclusive()
    unit_ids = {n.record: n.id for n in graph.nodes.values() if n.kind == "module"}
    unit_ids.update({g.record: g.id for g in graph.groups.values()})
    inside: dict[str, set[str]] = {}  # unit id -> the node ids it covers
    for n in graph.nodes.values():
        inside.setdefault(n.id, set()).add(n.id)
        g = n.group
        while g is not None:
            inside.setdefault(g, set()).add(n.id)
            g = graph.groups[g].parent
    folds: dict[str, GraphNode] = {}
    for parent in {0, *(g.record for g in graph.groups.values())}:
        kids = [c for c in records[parent].children if c in unit_ids and records[c].ran]
        run: list[int] = []
        for c in [*kids, None]:
            if run and c is not None and _same_block(records, inclusive, run, c) and _chained(
                graph, inside.get(unit_ids[run[-1]], set()), inside.get(unit_ids[c], set())
            ):
                run.append(c)
                continue
            if len(run) >= 2:
                fold = _fold_node(graph, [unit_ids[i] for i in run], inside)
                folds[fold.id] = fold
            run = [c] if c is not None else []
    return dict(sorted(folds.items(), key=lambda item: item[1].order))  # in the order the pass ran them


def _same_block(records: list[LayerRecord], inclusive: list[LayerRecord], run: list[int], index: int) -> bool:
    """``index`` repeats the run's block: the same type (and children, for a container), it keeps the shape
    the run's first block gives (a stage of ResNet blocks folds; stages that downsample do not), and after
    the first (the entry, which may change the shape) every block has the same params and MACs."""
    rec, last = records[index], run[-1]
    same_cost = len(run) < 2 or (inclusive[index].params, inclusive[index].macs) == (
        inclusive[last].params, inclusive[last].macs)
    return (
        _signature(records, index) == _signature(records, last)
        and rec.input_shapes == rec.output_shapes == records[run[0]].output_shapes
        and same_cost
    )


def _chained(graph: ArchGraph, first: set[str], second: set[str]) -> bool:
    """All that leaves ``first`` goes into ``second`` and all that enters ``second`` comes from ``first``."""
    if not first or not second:
        return False
    linked = False
    for e in graph.edges:
        if e.src in first and e.dst not in first:
            if e.dst not in second:
                return False
            linked = True
        if e.dst in second and e.src not in second and e.src not in first:
            return False
    return linked


def _fold_node(graph: ArchGraph, members: list[str], inside: dict[str, set[str]]) -> GraphNode:
    def figures(uid: str) -> GraphNode | GraphGroup:
        return graph.nodes[uid] if uid in graph.nodes else graph.groups[uid]

    first, last = figures(members[0]), figures(members[-1])
    rec_first, rec_last = graph.report.records[first.record], graph.report.records[last.record]
    inclusive = graph.report.inclusive()
    covered = [graph.nodes[n] for m in members for n in inside.get(m, set())]
    return GraphNode(
        id=f"fold:{first.record}",
        kind="fold",
        name=f"{rec_first.label} … {rec_last.label.rpartition('.')[2]}",
        type=f"{rec_first.type} × {len(members)}",
        group=graph.nodes[members[0]].group if members[0] in graph.nodes else graph.groups[members[0]].parent,
        record=first.record,
        input_shapes=list(rec_first.input_shapes),
        output_shapes=list(rec_last.output_shapes),
        params=sum(inclusive[figures(m).record].params for m in members),
        macs=sum(inclusive[figures(m).record].macs for m in members),
        other_ops=sum(inclusive[figures(m).record].other_ops for m in members),
        output_bytes=rec_last.output_bytes,
        rf=last.rf if isinstance(last, GraphNode) else next((n.rf for n in reversed(covered) if n.rf), None),
        members=members,
        order=float(first.record),
    )


def _expanded(graph: ArchGraph, expand: list[str]) -> set[str]:
    """Folds named by ``expand`` (``all``, or a module name: the fold whose members it names or contains)."""
    out = set()
    for fid, fold in graph.folds.items():
        names = [graph.report.records[(graph.nodes.get(m) or graph.groups[m]).record].name for m in fold.members]
        for want in expand:
            if want == "all" or any(n == want or n.startswith(want + ".") or want.startswith(n + ".")
                                    or n.rpartition(".")[0] == want for n in names):
                out.add(fid)
    return out


@typed_errors
def architecture_graph(
    model: nn.Module,
    inputs: Any = None,
    *,
    depth: int = 2,
    fold: bool = True,
    expand: Iterable[str] = (),
    only: Iterable[str] = (),
    **pass_options: Any,
) -> ArchGraph:
    """Run ``model`` once on ``inputs`` and return its :class:`ArchGraph` at ``depth``.

    Args:
        model: the module (never modified).
        inputs: shapes, InputSpecs or tensors, as for :func:`archinspect.inspect`.
        depth: module calls at this depth (and leaves above it) are nodes; those above are groups. Default 2.
        fold: fold runs of identical chained blocks into one node ``Type × N``. Default True.
        expand: folds to leave open: ``all``, or module names (``layer3`` opens the fold inside it).
        only: module names: draw only what is inside them (edges from the rest start at named stubs).
        **pass_options: as for :func:`archinspect.inspect`: ``kwargs``, ``model_name``, ``cpu_model``, ``device``,
            ``dtype``, ``mode``, ``force``, ...

    Example:
        >>> g = architecture_graph(create_model("resnet50"), "1,3,224,224")
        >>> [f.type for f in g.folds.values()]
        ['Bottleneck × 3', 'Bottleneck × 4', 'Bottleneck × 6', 'Bottleneck × 3']
    """
    tracker = ProvenanceTracker()
    report = inspect(model, inputs, observers=[tracker], depth=depth, **pass_options)
    ran = tracker.model if tracker.model is not None else model  # the module that ran: its layers' settings
    only = list(only)
    graph = build_graph(report, tracker.result, ran, depth, fold, [*expand, *only])  # a fold hiding NAME opens
    graph.only = only
    names = {r.name for r in report.records}
    for name in graph.only:
        if name not in names:
            raise UsageError(
                f"only={name!r} is not a module of the model; accepted: a module's qualified name", param="only"
            )
    if tracker.result.outputs and not [e for e in graph.edges if e.dst.startswith("out:")]:
        graph.notes.append("the output could not be traced back to a node")
    return graph


def attach_times(graph: ArchGraph, seconds: Mapping[tuple[str, int], float], timing: dict[str, Any]) -> int:
    """Give each module node the measured time of its call, children included, and each fold the sum of its
    members'; operator nodes keep ``None`` (their time is inside the module that ran them and is not
    measured apart). ``seconds``: inclusive seconds by (qualified module name, call number: 1 for a first
    call), as a profile of the same model gives them. Returns how many module calls found no time."""
    records = graph.report.records

    def of(record: int | None) -> float | None:
        if record is None:
            return None
        rec = records[record]
        return seconds.get((rec.name, rec.call))

    missing = 0
    for node in graph.nodes.values():
        if node.kind == "module":
            node.time_s = of(node.record)
            missing += node.time_s is None and node.ran
    for fold in graph.folds.values():
        parts = [of((graph.nodes.get(m) or graph.groups[m]).record) for m in fold.members]
        fold.time_s = None if None in parts else sum(p for p in parts if p is not None)
    graph.timing = dict(timing)
    return missing


def fold_summary(graph: ArchGraph) -> list[str]:
    """``layer1.0 … 2: Bottleneck × 3 (1×64×56×56 -> 1×256×56×56)`` per fold."""
    return [f"{f.name}: {f.type} ({fmt_shape(f.input_shapes)} -> {fmt_shape(f.output_shapes)})"
            for f in graph.folds.values()]
