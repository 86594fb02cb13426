"""The graph as text for other tools: Graphviz DOT and a Mermaid flowchart, each with the drawn groups as nested
clusters (subgraphs) and every edge labelled with its tensor's shape."""

from __future__ import annotations

from html import escape
from typing import Any

from archinspect.analyses.graph_types import GraphGroup, GraphNode
from archinspect.text import shape_text

GraphView = Any  # archinspect.render.graph.GraphView, which imports this module


def dot(view: GraphView) -> str:
    """Graphviz DOT (clusters for groups), for people who have ``dot``."""
    out = [f'digraph "{_q(view.graph.model)}" {{', "  rankdir=TB; node [shape=box, fontname=Helvetica, "
           'fontsize=10]; edge [fontname=Helvetica, fontsize=9];']

    def box(n: GraphNode) -> str:
        shape = ", shape=ellipse" if n.kind == "op" else ", style=bold" if n.kind == "fold" else ""
        return f'"{n.id}" [label="{_q(chr(10).join(view.lines(n)))}"{shape}];'

    out += _nested(view, box, lambda g: f'subgraph "cluster_{g.id}" {{ label="{_q(g.name)} ({_q(g.type)})"; '
                        "style=dashed;", "}")
    for e in view.edges:
        out.append(f'  "{e.src}" -> "{e.dst}" [label="{shape_text(e.shape)}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def _nested(view: GraphView, box: Any, opening: Any, closing: str) -> list[str]:
    """Lines for the drawn nodes inside their nested groups: ``box(node)``, ``opening(group)`` ... ``closing``."""
    children, members = _nesting(view)
    out: list[str] = []

    def emit(group: str | None, indent: str) -> None:
        out.extend(indent + box(n) for n in members.get(group, []))
        for g in children.get(group, []):
            out.append(indent + opening(g))
            emit(g.id, indent + "  ")
            out.append(indent + closing)

    emit(None, "  ")
    return out


def _nesting(view: GraphView) -> tuple[dict[str | None, list[GraphGroup]], dict[str | None, list[GraphNode]]]:
    """Drawn groups by their drawn parent group, and nodes (in reading order) by their drawn group."""
    children: dict[str | None, list[GraphGroup]] = {}
    for g in view.groups:
        children.setdefault(_parent_drawn(view, g.parent), []).append(g)
    members: dict[str | None, list[GraphNode]] = {}
    for n in view.reading_order():
        members.setdefault(_parent_drawn(view, n.group), []).append(n)
    return children, members


def _parent_drawn(view: GraphView, group: str | None) -> str | None:
    drawn = {g.id for g in view.groups}
    while group is not None and group not in drawn:
        group = view.graph.groups[group].parent if group in view.graph.groups else None
    return group


def mermaid(view: GraphView) -> str:
    """A Mermaid flowchart (subgraphs for groups) for Markdown, GitHub and JupyterLab."""
    ids = {n.id: f"n{i}" for i, n in enumerate(view.reading_order())}
    gids = {g.id: f"g{i}" for i, g in enumerate(view.groups)}
    out = ["flowchart TD"]

    def box(n: GraphNode) -> str:
        text = "<br/>".join(_m(t) for t in view.lines(n))
        left, right = {"op": ("([", "])"), "fold": ("[[", "]]"), "input": ("[/", "/]"),
                       "output": ("[\\", "\\]")}.get(n.kind, ("[", "]"))
        return f'{ids[n.id]}{left}"{text}"{right}'

    out += _nested(view, box, lambda g: f'subgraph {gids[g.id]}["{_m(g.name)} ({_m(g.type)})"]', "end")
    for e in view.edges:
        out.append(f'  {ids[e.src]} -->|"{shape_text(e.shape)}"| {ids[e.dst]}')
    return "\n".join(out) + "\n"


def _q(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _m(text: str) -> str:
    return escape(text).replace('"', "#quot;")


__all__ = ["dot", "mermaid"]
