"""The words on ``archinspect graph``'s boxes and in its details panel, worded once for every format."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.graph_types import GraphNode
from archinspect.render.escape import printable
from archinspect.text import fmt_bytes, fmt_count, shape_text, short_path

CHAR_W = 6.6  # px per character at the 11 px font (DejaVu Sans / Arial average, measured in Chromium)
LINE_H = 13.0  # 11 px text
BOX_PAD = 8.0  # above the first line and below the last, together


def _pair(value: Any) -> str:
    if isinstance(value, list):
        return "×".join(str(v) for v in value) if len(set(value)) > 1 else str(value[0])
    return str(value)


def settings_text(node: GraphNode) -> str:
    """``3×3 /2 p1`` (kernel, stride, padding, dilation, groups) or ``512→1000`` for a Linear."""
    s = node.settings
    parts = []
    if "in_features" in s and "out_features" in s:
        parts.append(f"{s['in_features']}→{s['out_features']}")
    if "kernel_size" in s:
        parts.append(_pair(s["kernel_size"]))
    if s.get("stride") not in (None, 1, [1, 1], [1]):
        parts.append("/" + _pair(s["stride"]))
    if s.get("padding") not in (None, 0, [0, 0], [0], "valid"):
        parts.append("p" + _pair(s["padding"]))
    if s.get("dilation") not in (None, 1, [1, 1], [1]):
        parts.append("d" + _pair(s["dilation"]))
    if s.get("groups") not in (None, 1):
        parts.append(f"g{s['groups']}")
    if "output_size" in s:
        parts.append("→" + _pair(s["output_size"]))
    return " ".join(parts)


def fmt_seconds(seconds: float) -> str:
    """``1.23 ms``, ``456 µs``, ``1.20 s``: three significant figures."""
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale * 0.9995:  # 999.95 µs reads 1.00 ms
            value = max(seconds / scale, 1.0)
            text = f"{value:#.3g}".rstrip(".")
            return f"{value:.0f} {unit}" if "e" in text else f"{text} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def cost_text(node: GraphNode) -> str:
    """``118.014 MMACs · 9.408 K params · 1.23 ms`` (the time only where one was measured)."""
    parts = []
    if node.macs:
        parts.append(fmt_count(node.macs, "MACs").replace(" ", " "))
    if node.params:
        parts.append(fmt_count(node.params).replace(" ", " ") + " params")
    if node.time_s is not None:
        parts.append(fmt_seconds(node.time_s).replace(" ", " "))
    return " · ".join(parts)


def node_lines(node: GraphNode, within: str = "") -> list[str]:
    """The text on a box (control characters in a hostile name shown as escapes): see :func:`_lines`."""
    return [printable(line) for line in _lines(node, within)]


def _lines(node: GraphNode, within: str = "") -> list[str]:
    """The text on a box, line by line (the first is the title); a name inside the cluster ``within`` is
    written relative to it (``denselayer1`` in ``features.denseblock1``)."""
    if node.kind in ("input", "output"):
        shapes = node.output_shapes if node.kind == "input" else node.input_shapes
        return [node.name, ", ".join(shape_text(s) for s in shapes)]
    if node.kind == "op":
        return [node.name]
    inside = within and node.kind == "module" and node.name.startswith(within + ".")
    name = node.name.removeprefix(within + ".") if inside else node.name
    title = short_path(name, 34) if node.kind == "module" else node.type
    second = f"{node.type} {settings_text(node)}".strip() if node.kind == "module" else short_path(name, 34)
    lines = [title or node.type, second]
    cost = cost_text(node)
    if cost:
        lines.append(cost)
    return lines


def node_details(node: GraphNode) -> dict[str, Any]:
    """What the HTML shows on hover or click."""
    d: dict[str, Any] = {"name": node.name, "type": node.type}
    if node.input_shapes:
        d["input"] = ", ".join(shape_text(s) for s in node.input_shapes)
    if node.output_shapes:
        d["output"] = ", ".join(shape_text(s) for s in node.output_shapes)
    for key, value in node.settings.items():
        d[key] = _pair(value)
    if node.kind in ("module", "fold", "op"):
        d["params"] = f"{node.params:,}"
        d["MACs"] = f"{node.macs:,}"
        d["other ops"] = f"{node.other_ops:,}"
    if node.time_s is not None:
        d["time"] = fmt_seconds(node.time_s) + " (median, children included)"
    if node.output_bytes:
        d["output bytes"] = fmt_bytes(node.output_bytes)
    if node.rf:
        d["receptive field"] = "×".join(str(v) for v in node.rf)
    if node.members:
        d["folded"] = f"{len(node.members)} blocks (click to unfold)"
    return d


def size(node: GraphNode, lines: list[str]) -> tuple[float, float]:
    w = max(len(t) for t in lines) * CHAR_W + 16
    if node.kind == "op":
        return max(w, 44.0), 22.0
    return max(w, 60.0), len(lines) * LINE_H + BOX_PAD


