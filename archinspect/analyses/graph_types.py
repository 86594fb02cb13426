"""The architecture graph as data: nodes, edges, groups and folds (:class:`ArchGraph`), and what is visible at
once (folds closed, ``only`` applied). Built by :func:`archinspect.analyses.graph.build_graph`; drawn by
:mod:`archinspect.render.graph`; ``to_dict`` is the JSON schema the README documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archinspect.core.report import Report

Shape = tuple[int, ...]


@dataclass
class GraphNode:
    """A drawn box. ``kind``: ``input``, ``output``, ``module``, ``op`` or ``fold`` (a folded run)."""

    id: str
    kind: str
    name: str  # qualified module name, operator name, ``input``/``output`` (or the keyword)
    type: str  # module class, ATen operator, or the fold's ``Bottleneck × 3``
    group: str | None = None  # id of the group (cluster) it sits in
    record: int | None = None
    input_shapes: list[Shape] = field(default_factory=list)
    output_shapes: list[Shape] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # kernel_size, stride, padding, dilation, groups, ...
    params: int = 0
    macs: int | float = 0
    other_ops: int | float = 0
    output_bytes: int = 0
    rf: list[int] | None = None  # receptive field size per spatial axis (input pixels)
    ran: bool = True
    members: list[str] = field(default_factory=list)  # a fold's units (node or group ids), first to last
    order: float = 0.0  # its place in the pass: the record index, between records for an operator
    time_s: float | None = None  # measured seconds of the module call, its children included (see attach_times)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["input_shapes"] = [list(s) for s in self.input_shapes]
        d["output_shapes"] = [list(s) for s in self.output_shapes]
        d["flops"] = 2 * self.macs
        return d


@dataclass
class GraphEdge:
    """One tensor from the node that made it to a node that read it."""

    src: str
    dst: str
    shape: Shape

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "shape": list(self.shape)}


@dataclass
class GraphGroup:
    """A module call above the graph's depth, drawn as a cluster around its nodes; ``params``/``macs``/
    ``other_ops`` are what it holds and ran itself outside every node (so that everything sums)."""

    id: str
    name: str
    type: str
    parent: str | None
    record: int
    params: int = 0
    macs: int | float = 0
    other_ops: int | float = 0
    total_params: int = 0
    total_macs: int | float = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ArchGraph:
    """The dataflow of one pass at ``depth``: nodes, edges, groups and folds (all in the full, unfolded
    graph; :meth:`visible` applies the folds that are not expanded)."""

    model: str
    depth: int
    nodes: dict[str, GraphNode]
    edges: list[GraphEdge]
    groups: dict[str, GraphGroup]
    folds: dict[str, GraphNode]  # fold id -> its node (kind "fold")
    expanded: set[str]
    report: Report
    notes: list[str] = field(default_factory=list)
    only: list[str] = field(default_factory=list)  # module names: draw only what is inside them
    timing: dict[str, Any] = field(default_factory=dict)  # how node times were measured (empty: not timed)

    def visible(self) -> tuple[list[GraphNode], list[GraphEdge], list[GraphGroup]]:
        """What is drawn: folded runs replaced by their fold node, edges between them merged."""
        owner = self._fold_owners()
        nodes = [n for n in self.nodes.values() if n.ran and self._shown_as(n.id, owner) == n.id]
        nodes += [f for fid, f in self.folds.items() if fid not in self.expanded and fid not in owner]
        edges = _merged([GraphEdge(self._shown_as(e.src, owner), self._shown_as(e.dst, owner), e.shape)
                         for e in self.edges])
        groups = [g for g in self.groups.values() if g.id not in owner]
        if self.only:
            return self._focused(nodes, edges, groups)
        return nodes, edges, groups

    def _fold_owners(self) -> dict[str, str]:
        """Node or group id -> the closed fold that hides it (a group inside a hidden group too)."""
        owner: dict[str, str] = {}
        for fid, fold in self.folds.items():
            if fid not in self.expanded:
                owner.update(dict.fromkeys(fold.members, fid))
        for g in self.groups.values():
            up: str | None = g.id
            while up is not None and up not in owner:
                up = self.groups[up].parent if up in self.groups else None
            if up is not None:
                owner.setdefault(g.id, owner[up])
        return owner

    def _shown_as(self, node_id: str, owner: dict[str, str]) -> str:
        if node_id in owner:
            return owner[node_id]
        group = self.nodes[node_id].group
        return owner.get(group, node_id) if group is not None else node_id

    def _within(self, group: str | None, targets: set[str]) -> bool:
        while group is not None:
            if group in targets:
                return True
            group = self.groups[group].parent if group in self.groups else None
        return False

    def _outside_name(self, node: GraphNode) -> str:
        """A node outside ``only`` as its stub says it: an operator with its module (``block2 cat``)."""
        group = self.groups.get(node.group) if node.kind == "op" and node.group else None
        return f"{group.name} {node.name}" if group is not None and group.record != 0 else node.name

    def _focused(
        self, nodes: list[GraphNode], edges: list[GraphEdge], groups: list[GraphGroup]
    ) -> tuple[list[GraphNode], list[GraphEdge], list[GraphGroup]]:
        """Only what is inside the modules named by ``only``; edges from or to the rest end at stubs named
        after the node outside."""
        targets = {g.id for g in self.groups.values() if g.name in self.only}
        kept = {n.id: n for n in nodes if n.name in self.only or self._within(n.group, targets)}
        by_id = {n.id: n for n in nodes}
        inputs: dict[str, GraphNode] = {}
        outputs: dict[str, GraphNode] = {}
        out = []
        for e in edges:
            if e.src in kept and e.dst in kept:
                out.append(e)
            elif e.dst in kept:
                stub = inputs.setdefault(e.src, GraphNode(f"from:{e.src}", "input", self._outside_name(by_id[e.src]),
                                                          "input", output_shapes=[e.shape]))
                out.append(GraphEdge(stub.id, e.dst, e.shape))
            elif e.src in kept:
                stub = outputs.setdefault(e.dst, GraphNode(f"to:{e.dst}", "output", self._outside_name(by_id[e.dst]),
                                                           "output", input_shapes=[e.shape]))
                out.append(GraphEdge(e.src, stub.id, e.shape))
        shown = [*inputs.values(), *kept.values(), *outputs.values()]
        return shown, out, [g for g in groups if self._within(g.id, targets)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema in docs/graph.md)."""
        totals = self.report.totals
        return {
            "schema": "archinspect.graph/1",
            "model": self.model,
            "depth": self.depth,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.report.inputs],
            "device": self.report.device,
            "totals": {"params": totals.params, "macs": totals.macs, "flops": totals.flops,
                       "other_ops": totals.other_ops},
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "edges": [e.to_dict() for e in self.edges],
            "groups": [g.to_dict() for g in self.groups.values()],
            "folds": [{**f.to_dict(), "expanded": fid in self.expanded} for fid, f in self.folds.items()],
            "timing": dict(self.timing) or None,
            "notes": list(self.notes),
        }


def _merged(edges: list[GraphEdge]) -> list[GraphEdge]:
    """Edges without loops (inside one fold) and without repeats of the same (src, dst, shape)."""
    seen: set[tuple[str, str, tuple[int, ...]]] = set()
    out = []
    for e in edges:
        key = (e.src, e.dst, e.shape)
        if e.src != e.dst and key not in seen:
            seen.add(key)
            out.append(e)
    return out


__all__ = ["ArchGraph", "GraphEdge", "GraphGroup", "GraphNode", "Shape"]
