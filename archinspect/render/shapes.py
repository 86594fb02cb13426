"""The ``shapes`` view of a Report: a tree-indented table of every layer plus a footer of totals."""

from __future__ import annotations

from typing import Any

from archinspect.core.report import LayerRecord, Report
from archinspect.render.table import Column, TableData, bar, cut_middle, cut_shapes, tree_label
from archinspect.text import CONVENTION_LINE, dims_text, fmt_bytes, fmt_count, fmt_int, fmt_shape, notes_shown

# Columns hidden when the width cannot hold them all, least important first (--wide shows every one).
DROP_ORDER = ("share", "output_bytes", "input_shape", "type", "rf_start", "rf_jump")


def _fmt_or_dash(fmt: Any) -> Any:
    return lambda v: (v if isinstance(v, str) else fmt(v)) if v else "—"


def _rf_cells(rec: LayerRecord) -> dict[str, str]:
    """Receptive-field cells: ``7×7``, ``2×2``, ``-3,-3``; ``≤`` marks an upper bound; ``—`` no field."""
    if rec.rf is None:
        return {"rf_size": "—", "rf_jump": "—", "rf_start": "—"}
    mark = "≤" if rec.rf.bound else ""
    return {
        "rf_size": mark + dims_text(rec.rf.size),
        "rf_jump": dims_text(rec.rf.jump),
        "rf_start": ",".join(str(v) for v in rec.rf.start),
    }


class ShapesView:
    """Renders a :class:`Report` at one depth in every output format."""

    def __init__(self, report: Report, depth: int | None = None, label: str | None = None, rf: bool = False) -> None:
        self.report = report
        self.columns = report.columns  # only these column keys (the layer name always), or every one
        # add receptive-field columns (size, jump, start of unit 0, in input pixels)
        self.rf = rf or any(k.startswith("rf_") for k in self.columns or ())
        self.depth = report.depth if depth is None else depth
        self.label = label or report.model_name
        self.rows = report.rows(self.depth)

    def table(self) -> TableData:
        r = self.report
        total_macs = r.totals.macs or 1
        data = TableData(
            title=f"{self.label} · input {r.input_text()}",
            columns=[
                Column("Layer", "layer", min_width=12, cut=cut_middle),
                Column("Type", "type", min_width=13),
                Column("Input shape", "input_shape", fmt=fmt_shape, cut=cut_shapes),
                Column("Output shape", "output_shape", fmt=fmt_shape, cut=cut_shapes),
                Column("Params", "params", "right", fmt=_fmt_or_dash(fmt_int)),
                Column("MACs", "macs", "right", fmt=_fmt_or_dash(fmt_count)),
                Column("Share", "share", fmt=lambda v: f"{v:6.1%} {bar(v)}" if v else ""),
                Column("Output size", "output_bytes", "right", fmt=lambda v: fmt_bytes(v) if v else "—"),
            ],
            drop_order=DROP_ORDER,
        )
        if self.rf:
            data.columns[4:4] = [
                Column("RF", "rf_size", "right"),
                Column("Jump", "rf_jump", "right"),
                Column("Start", "rf_start", "right"),
            ]
        inclusive = r.inclusive()
        for rec in self.rows:
            name = tree_label(rec, r.records)
            if not rec.ran:  # under its parent like any other row, dimmed
                name += " (not run)"
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
                **_rf_cells(rec),
            )
        if self.columns is not None:
            data.columns = [c for c in data.columns if c.key == "layer" or c.key in self.columns]
        data.footer = self.footer()
        return data

    def footer(self) -> list[str]:
        r, t = self.report, self.report.totals
        batch = r.batch_size
        per_sample = f" · per sample {fmt_count(t.macs / batch, 'MACs')}" if batch > 1 else ""
        where = f"{r.device} (nothing allocated)" if r.device == "meta" else r.device
        lines = [
            f"Params: {t.params:,} (trainable {t.trainable_params:,}, non-trainable {t.non_trainable_params:,})",
            f"MACs: {fmt_count(t.macs)} ({t.macs:,}) · FLOPs: {fmt_count(t.flops)} · other ops: "
            f"{fmt_count(t.other_ops)} · batch {batch}{per_sample}",
            f"Memory: params {fmt_bytes(t.param_bytes)} · buffers {fmt_bytes(t.buffer_bytes)} · "
            f"input {fmt_bytes(t.input_bytes)} · activations {fmt_bytes(t.activation_bytes)} (leaf outputs)",
            f"Device: {where} · mode {r.mode} · depth {self.depth}",
            CONVENTION_LINE,
        ]
        lines.extend(f"Note: {n}" for n in notes_shown(r.notes, self.rf))
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
        return self.frame_table().to_csv()

    def frame_table(self) -> TableData:
        """The table as data (CSV, ``Report.to_dataframe()``): qualified names, depth, own figures, raw numbers."""
        data = self.table()
        renames = {"layer": "name", "params": "params_own", "macs": "macs_own"}
        for col in data.columns:
            col.key = renames.get(col.key, col.key)
        data.columns.insert(2, Column("Depth", "depth"))
        data.columns = [c for c in data.columns if c.key != "share"]
        data.columns.insert(-1, Column("Other ops", "other_ops"))
        return data

    def markdown(self) -> str:
        data = self.table()
        for row in data.rows:  # Markdown collapses leading spaces: indent with non-breaking ones
            row["layer"] = row["layer"].replace("  ", "\u00a0\u00a0")
        return data.to_markdown()
