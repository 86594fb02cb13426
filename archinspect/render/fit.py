"""The ``fit`` view of a FitReport: a line per mismatch, what each Linear receives, the sizes that fit."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.fitting import FitReport
from archinspect.analyses.solve import AxisSolve, LinearRange, SolveResult
from archinspect.render.escape import markdown_text, printable
from archinspect.render.table import Column, TableData, cut_middle
from archinspect.text import dims_text, fmt_shape, notes_shown

CHECKED = "Linear in_features, Conv in_channels/groups, BatchNorm num_features, LayerNorm, GroupNorm"


def _axis_label(axis: AxisSolve, solve: SolveResult, plural: bool = True) -> str:
    """``square inputs``, ``heights (at width 128)``; singular with ``plural=False``."""
    shape = solve.input.shape
    simple = {"square": "square input", "cube": "cubic input", "L": "length"}
    if axis.axis in simple:
        return simple[axis.axis] + ("s" if plural else "")
    names = {"D": "depth", "H": "height", "W": "width"}
    spatial = ("D", "H", "W")[-(len(shape) - 2) :]
    others = [f"{names[a]} {shape[2 + i]}" for i, a in enumerate(spatial) if a != axis.axis]
    return f"{names[axis.axis]}{'s' if plural else ''} (at {', '.join(others)})"


def _size(solve: SolveResult, axis: AxisSolve, size: int) -> str:
    return dims_text(solve.shape_at(axis, size)[2:])


def _span(low: int, high: int | None) -> str:
    if high is None:
        return f"{low} and up"
    return str(low) if low == high else f"{low}–{high}"


def _constrained(axis: AxisSolve) -> list[LinearRange]:
    """The Linears the input size matters for (not those receiving the same at every size that runs)."""
    return [r for r in axis.linears if r.everywhere is None or r.everywhere != r.in_features]


def solve_lines(solve: SolveResult, api: bool = False) -> list[str]:
    """Plain lines on the input sizes that fit, e.g. ``square inputs 193–224 give 256×5×5 = 6400 for 14``;
    ``api``: the nearest valid input as the Python argument (``inputs=(1, 1, 193, 193)``), not ``--input``."""
    searched = f"searched on meta: {solve.probes} passes, {solve.seconds:.2f} s"
    lines = [f"Input sizes that fit the model as written ({searched}):"]
    for axis in solve.axes:
        label = _axis_label(axis, solve)
        if axis.smallest_runnable is None:
            lines.append(f"  no {label} up to {axis.max_size} run at all")
            continue
        constrained = _constrained(axis)
        if axis.valid:
            assert axis.low is not None
            gives = ", ".join(f"{r.gives} (layer {r.layer})" for r in constrained if r.low is not None)
            if axis.low == axis.high:
                what = f" gives {gives}" if gives else " runs and fits every Linear"
                lines.append(f"  only {_axis_label(axis, solve, plural=False)} {axis.low}{what}")
            else:
                what = f" give {gives}" if gives else " run and fit every Linear"
                lines.append(f"  {label} {_span(axis.low, axis.high)}{what}")
        for r in constrained:
            if r.low is not None:
                continue
            if r.everywhere is not None:
                lines.append(
                    f"  layer {r.layer} receives {r.everywhere} features at every size that runs: "
                    f"no input size gives it {r.in_features}; change the layer"
                )
                continue
            around = []
            if r.below:
                around.append(f"{_size(solve, axis, r.below[0])} gives {r.below[1]}")
            if r.above:
                around.append(f"{_size(solve, axis, r.above[0])} gives {r.above[1]}")
            tail = f" ({'; '.join(around)})" if around else ""
            one = _axis_label(axis, solve, plural=False)
            lines.append(f"  no {one} gives layer {r.layer} its {r.in_features} features{tail}")
        if not axis.valid and all(r.low is not None for r in constrained) and constrained:
            lines.append(f"  no {label} fit every Linear at once")
        one = _axis_label(axis, solve, plural=False)
        varying = "" if axis.axis in ("square", "cube", "L") else f", varying the {one}"
        smallest = _size(solve, axis, axis.smallest_runnable)
        lines.append(f"  smallest input that runs at all{varying}: {smallest}")
        if axis.largest_runnable is not None:
            lines.append(f"  largest input that runs{varying}: {_size(solve, axis, axis.largest_runnable)}")
    nearest = solve.nearest_shape
    given = dims_text(solve.input.shape[2:])
    if nearest is not None and tuple(nearest) != tuple(solve.input.shape):
        how = f"inputs={tuple(nearest)}" if api else f"--input {','.join(map(str, nearest))}"
        lines.append(f"  nearest valid input to {given}: {dims_text(nearest[2:])} ({how})")
    elif nearest is not None:
        lines.append(f"  the given {given} is valid")
    lines.extend(f"  note: {n}" for n in solve.notes)
    return lines


class SolveView:
    """A :class:`SolveResult` on its own (``archinspect.valid_input_sizes``): its lines and one row per axis."""

    def __init__(self, solve: SolveResult) -> None:
        self.solve = solve

    def table(self) -> TableData:
        data = TableData(
            title=f"Input sizes searched · input {self.solve.input}",
            columns=[
                Column("Axis", "axis"),
                Column("Given", "given", "right"),
                Column("Smallest that runs", "smallest_runnable", "right", fmt=_or_dash),
                Column("Valid from", "low", "right", fmt=_or_dash),
                Column("Valid to", "high", "right", fmt=_or_dash),
                Column("Nearest valid", "nearest", "right", fmt=_or_dash),
            ],
        )
        for axis in self.solve.axes:
            data.add(
                axis=axis.axis,
                given=axis.given,
                smallest_runnable=axis.smallest_runnable,
                low=axis.low,
                high=axis.high if axis.high is not None or axis.low is None else f"{axis.max_size}+",
                nearest=axis.nearest,
            )
        return data

    def rich(self) -> list[Any]:
        from rich.text import Text

        return [self.table().to_rich(), Text("\n".join(solve_lines(self.solve, api=True)))]


def _or_dash(value: Any) -> str:
    return "—" if value is None else str(value)


class FitView:
    """Renders a :class:`FitReport` in every output format."""

    def __init__(self, report: FitReport, label: str | None = None, api: bool = False) -> None:
        self.report = report
        self.api = api  # shown from Python (print, a notebook): name the argument, not the flag
        self.label = label or report.model_name

    @property
    def title(self) -> str:
        r = self.report
        return f"fit · {self.label} · input {', '.join(str(s) for s in r.inputs)} · {r.device}"

    def verdict(self) -> list[str]:
        r = self.report
        if r.consistent:
            return ["✓ consistent: every checked layer receives what it declares"]
        n = len(r.mismatches)
        single = "✗ 1 layer does not fit what it receives:"
        lines = [f"✗ {n} layers do not fit what they receive:" if n > 1 else single]
        for m in r.mismatches:
            lines.append(f"  {m.message}")
            if m.location:
                lines.append(f"      constructed at {m.location}")
        return lines

    def linear_table(self) -> TableData:
        data = TableData(
            title="What each Linear receives",
            columns=[
                Column("Layer", "layer", cut=cut_middle),
                Column("in_features", "in_features", "right"),
                Column("Receives", "received", fmt=fmt_shape),
                Column("From", "origin", min_width=12),
                Column("Fits", "fits", shrink=False),
            ],
            drop_order=("origin",),
        )
        for u in self.report.linears:
            data.add(
                style=None if u.matches else "bold red",
                layer=u.layer or "(model)",
                in_features=u.in_features,
                received=u.received,
                origin=u.origin,
                fits="✓" if u.matches else f"✗ needs {u.features}",
            )
        return data

    def lines(self) -> list[str]:
        """Everything but the Linear table, as plain lines."""
        out = [self.title, *self.verdict()]
        if self.report.solve is not None:
            out.extend(solve_lines(self.report.solve))
        out.append(f"Checked: {CHECKED}")
        out.extend(f"Note: {n}" for n in notes_shown(self.report.notes))
        return out

    def rich(self) -> list[Any]:
        from rich.text import Text

        r = self.report
        items: list[Any] = [Text(printable(self.title), style="bold")]
        verdict = [printable(line) for line in self.verdict()]
        items.append(Text(verdict[0], style="green" if r.consistent else "bold red"))
        if len(verdict) > 1:
            items.append(Text("\n".join(verdict[1:])))
        if r.linears:
            items.append(self.linear_table().to_rich())
        if r.solve is not None:
            items.append(Text("\n".join(solve_lines(r.solve, api=self.api))))
        footer = [f"Checked: {CHECKED}", *(f"Note: {n}" for n in notes_shown(r.notes))]
        items.append(Text("\n".join(footer), style="dim"))
        return items

    def json(self) -> dict[str, Any]:
        return self.report.to_dict()

    def csv(self) -> str:
        """One row per mismatch (kind ``mismatch``) and per Linear call (kind ``linear``)."""
        keys = ["kind", "layer", "type", "attribute", "declared", "needed", "received", "before_flatten"]
        keys += ["suggestion", "location"]
        data = TableData(title="", columns=[Column(k, k) for k in keys])
        for m in self.report.mismatches:
            d = m.to_dict()
            data.add(kind="mismatch", **{k: _csv_value(d[k]) for k in keys[1:]})
        for u in self.report.linears:
            data.add(
                kind="linear",
                layer=u.layer,
                type="Linear",
                attribute="in_features",
                declared=u.in_features,
                needed=u.features,
                received=fmt_shape(u.received),
                before_flatten=fmt_shape(u.before_flatten) if u.before_flatten else "",
            )
        return data.to_csv()

    def markdown(self) -> str:
        r = self.report
        esc = markdown_text
        out = [f"**{esc(self.title)}**", ""]
        verdict = self.verdict()
        out.append(esc(verdict[0]))
        out.extend(  # inside a code span nothing is HTML: only what ends the span or the line is escaped
            f"- `{printable(line.strip()).replace('`', chr(39))}`"
            if not line.strip().startswith("constructed")
            else f"  {esc(line.strip())}"
            for line in verdict[1:]
        )
        out.append("")
        if r.linears:
            out.append(self.linear_table().to_markdown())
        if r.solve is not None:
            lines = solve_lines(r.solve)
            out.append(esc(lines[0]))
            out.append("")
            out.extend(f"- {esc(line.strip())}" for line in lines[1:])
            out.append("")
        out.append(f"Checked: {CHECKED}  ")
        out.extend(f"Note: {esc(n)}  " for n in notes_shown(r.notes))
        return "\n".join(out).rstrip() + "\n"


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "" if value is None else value
