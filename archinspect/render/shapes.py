"""The ``shapes`` view of a Report: a tree-indented table of every layer plus a footer of totals."""

from __future__ import annotations

from typing import Any

from archinspect.core.report import LayerRecord, Report
from archinspect.render.table import Column, TableData, bar
from archinspect.text import CONVENTION, fmt_bytes, fmt_count, fmt_int, fmt_shape


def _short_name(rec: LayerRecord, records: list[LayerRecord]) -> str:
    if rec.parent is None or not rec.name:
        return rec.name or rec.type
    parent = records[rec.parent].name
    return rec.name[len(parent) + 1 :] if parent and rec.name.startswith(parent + ".") else rec.name


def _fmt_or_dash(fmt: Any) -> Any:
    return lambda v: (v if isinstance(v, str) else fmt(v)) if v else "—"


class ShapesView:
    """Renders a :class:`Report` at one depth in every output format."""

    def __init__(self, report: Report, depth: int | None = None, label: str | None = None) -> None:
        self.report = report
        self.depth = report.depth if depth is None else depth
        self.label = label or report.model_name
        self.rows = report.rows(self.depth)

    def table(self) -> TableData:
        r = self.report
        total_macs = r.totals.macs or 1
        data = TableData(
            title=f"{self.label} · input {r.input_text()}",
            columns=[
                Column("Layer", "layer"),
                Column("Type", "type"),
                Column("Input shape", "input_shape", fmt=fmt_shape),
                Column("Output shape", "output_shape", fmt=fmt_shape),
                Column("Params", "params", "right", fmt=_fmt_or_dash(fmt_int)),
                Column("MACs", "macs", "right", fmt=_fmt_or_dash(fmt_count)),
                Column("Share", "share", fmt=lambda v: f"{v:6.1%} {bar(v)}" if v else ""),
                Column("Output size", "output_bytes", "right", fmt=lambda v: fmt_bytes(v) if v else "—"),
            ],
        )
        inclusive = r.inclusive()
        for rec in self.rows:
            name = "  " * rec.depth + _short_name(rec, r.records)
            if rec.call > 1:
                name += f" (call {rec.call})"
            if not rec.ran:
                name = rec.name + " (not run)"
            params_shown: object = rec.params
            macs_shown: object = rec.macs
            if rec.children:  # a container: its own figures, then everything below it in brackets
                whole = inclusive[rec.index]
                params_shown = f"{fmt_int(rec.params) if rec.params else ''} ({whole.params:,})".lstrip()
                macs_shown = f"{fmt_count(rec.macs) if rec.macs else ''} ({fmt_count(whole.macs)})".lstrip()
                macs_shown = macs_shown if whole.macs else 0
            data.add(
                style=None if rec.ran else "dim",
                layer=name,
                name=rec.name,
                type=rec.type,
                depth=rec.depth,
                input_shape=rec.input_shapes,
                output_shape=rec.output_shapes,
                params=params_shown,
                macs=macs_shown,
                params_own=rec.params,
                macs_own=rec.macs,
                other_ops=rec.other_ops,
                share=rec.macs / total_macs,
                output_bytes=rec.output_bytes,
            )
        data.footer = self.footer()
        return data

    def footer(self) -> list[str]:
        r, t = self.report, self.report.totals
        batch = r.batch_size
        per_sample = f" · per sample {fmt_count(t.macs / batch)}MACs" if batch > 1 else ""
        where = f"{r.device} (nothing allocated)" if r.device == "meta" else r.device
        lines = [
            f"Params: {t.params:,} (trainable {t.trainable_params:,}, non-trainable {t.non_trainable_params:,})",
            f"MACs: {fmt_count(t.macs)} ({t.macs:,}) · FLOPs: {fmt_count(t.flops)} · other ops: "
            f"{fmt_count(t.other_ops)} · batch {batch}{per_sample}",
            f"Memory: params {fmt_bytes(t.param_bytes)} · buffers {fmt_bytes(t.buffer_bytes)} · "
            f"input {fmt_bytes(t.input_bytes)} · activations {fmt_bytes(t.activation_bytes)} (leaf outputs)",
            f"Device: {where} · mode {r.mode} · depth {self.depth}",
            f"Convention: {CONVENTION}",
        ]
        lines.extend(f"Note: {n}" for n in r.notes)
        uncounted = r.uncounted_text()
        if uncounted:
            lines.append(f"Not counted: {uncounted}")
        return lines

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        return self.report.to_dict(self.depth)

    def csv(self) -> str:
        data = self.table()
        renames = {"layer": "name", "params": "params_own", "macs": "macs_own"}
        for col in data.columns:
            col.key = renames.get(col.key, col.key)
        data.columns.insert(2, Column("Depth", "depth"))
        data.columns = [c for c in data.columns if c.key != "share"]
        data.columns.insert(-1, Column("Other ops", "other_ops"))
        return data.to_csv()

    def markdown(self) -> str:
        data = self.table()
        for row in data.rows:  # Markdown collapses leading spaces: indent with non-breaking ones
            row["layer"] = row["layer"].replace("  ", "\u00a0\u00a0")
        return data.to_markdown()
