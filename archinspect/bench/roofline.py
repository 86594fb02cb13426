"""The roofline picture of a :class:`~archinspect.bench.profile_report.ProfileReport`, as plain SVG text.

Log-log axes: arithmetic intensity (FLOPs per byte moved) across, achieved FLOP/s up. The measured roofs
are lines: the memory roof ``bytes/s × intensity`` rising to the ridge, the compute roof (matmul peak) flat
after it. Each module row that did arithmetic and moved bytes is a dot, its area proportional to its share
of the time, its colour its verdict; hovering shows its figures (``<title>``). The five slowest are labelled.
No plotting library: the SVG is written here (in ``bench`` beside the report, so that the report can show
itself in a notebook: ``ProfileReport._repr_svg_``; the report is read by its attributes, not imported, so the
two modules do not import each other).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from archinspect.bench.verdict import BELOW, COMPUTE, MEMORY, OVERHEAD

COLOURS = {COMPUTE: "#1f77b4", MEMORY: "#2ca02c", OVERHEAD: "#d62728", BELOW: "#ff7f0e"}
WIDTH, HEIGHT = 720, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50


def _decades(lo: float, hi: float) -> tuple[int, int]:
    return math.floor(math.log10(lo)), math.ceil(math.log10(hi))


def _si(value: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _free_row(placed: list[tuple[float, float, float]], x: float, y: float, width: float) -> float:
    """A baseline near ``y`` where a label ``width`` wide at ``x`` overlaps no label already placed (12 px rows)."""
    for shift in (0, 12, -12, 24, -24, 36, -36, 48):
        ty = y + shift
        if all(abs(ty - py) >= 12 or x + width <= px or px + pw <= x for px, py, pw in placed):
            placed.append((x, ty, width))
            return ty
    placed.append((x, y, width))
    return y


def points(report: Any, depth: int | None = None) -> list[Any]:
    """The rows drawn: shown leaves (no double counting) with FLOPs, bytes and time."""
    return [r for r in report.rows(depth) if r.leaf and r.flops > 0 and r.bytes > 0 and r.seconds > 0]


def roofline_svg(report: Any, depth: int | None = None) -> str:
    """The SVG document (a string) of the report's roofline at ``depth``."""
    c = report.ceilings
    rows = points(report, depth)
    xs = [r.verdict.intensity or 1.0 for r in rows] + [c.ridge]
    ys = [r.verdict.achieved_flops_per_s for r in rows] + [c.flops_per_s]
    x0, x1 = _decades(min(xs) / 2, max(xs) * 2)
    y0, y1 = _decades(min(ys) / 2, max(ys) * 2)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (math.log10(x) - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - (math.log10(max(y, 10.0**y0)) - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14">{escape(report.model_name)} · roofline · '
        f"{escape(c.device)} {escape(c.dtype)} · batch {report.settings.get('batch')}</text>",
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for d in range(x0, x1 + 1):
        x = px(10.0**d)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + ph + 15}" text-anchor="middle">{_si(10.0**d)}</text>')
    for d in range(y0, y1 + 1):
        y = py(10.0**d)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + pw}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_si(10.0**d)}</text>')
    out.append(
        f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 12}" text-anchor="middle">arithmetic intensity (FLOPs per byte)</text>'
    )
    out.append(
        f'<text x="16" y="{TOP + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {TOP + ph / 2})">'
        "achieved FLOP/s</text>"
    )
    # The roofs: memory up to the ridge, compute after it (clipped to the plot).
    left_x = 10.0**x0
    mem_y = c.bytes_per_s * left_x
    out.append(
        f'<polyline fill="none" stroke="#444" stroke-width="2" points="{px(left_x):.1f},{py(mem_y):.1f} '
        f'{px(c.ridge):.1f},{py(c.flops_per_s):.1f} {LEFT + pw},{py(c.flops_per_s):.1f}"/>'
    )
    legend_x = WIDTH - RIGHT + 14
    out.append(f'<text x="{legend_x}" y="{TOP + 110}">roofs measured in this run:</text>')
    out.append(f'<text x="{legend_x}" y="{TOP + 126}">matmul {_si(c.flops_per_s)} FLOP/s</text>')
    out.append(f'<text x="{legend_x}" y="{TOP + 142}">copy {_si(c.bytes_per_s)} B/s</text>')
    out.append(f'<text x="{legend_x}" y="{TOP + 158}">ridge {c.ridge:.3g} FLOP/B</text>')
    total = sum(r.seconds for r in rows) or 1.0
    slowest = {id(r) for r in sorted(rows, key=lambda r: r.seconds, reverse=True)[:5]}
    placed: list[tuple[float, float, float]] = []
    for r in sorted(rows, key=lambda r: r.seconds, reverse=True):
        v = r.verdict
        x, y = px(v.intensity or 1.0), py(v.achieved_flops_per_s)
        radius = 3 + 14 * math.sqrt(r.seconds / total)
        tip = (
            f"{r.record.label} ({r.record.type}): {r.seconds * 1e3:.3f} ms, {_si(r.flops)}FLOPs, {_si(r.bytes)}B, "
            f"{_si(v.achieved_flops_per_s)}FLOP/s, {v.intensity or 0:.2f} FLOP/B, {v.verdict}"
        )
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{COLOURS[v.verdict]}" fill-opacity="0.6" '
            f'stroke="{COLOURS[v.verdict]}"><title>{escape(tip)}</title></circle>'
        )
        if id(r) in slowest:
            lx, ly = x + radius + 2, _free_row(placed, x + radius + 2, y + 4, len(r.record.label) * 6.5)
            out.append(f'<text x="{lx:.1f}" y="{ly:.1f}">{escape(r.record.label)}</text>')
    for i, (name, colour) in enumerate(COLOURS.items()):
        y = TOP + 10 + i * 18
        out.append(f'<circle cx="{WIDTH - RIGHT + 20}" cy="{y}" r="5" fill="{colour}" fill-opacity="0.6"/>')
        out.append(f'<text x="{WIDTH - RIGHT + 30}" y="{y + 4}">{escape(name)}</text>')
    out.append(f'<text x="{WIDTH - RIGHT + 14}" y="{TOP + 90}">dot area: share of time</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
