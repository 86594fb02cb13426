"""The ``diff`` view of a ModelDiff: stages of A and B side by side with A/B ratios, then the totals."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.diff import ModelDiff, StageDiff, StageFigures
from archinspect.core.fields import ReceptiveField
from archinspect.render.table import Column, TableData, cut_middle
from archinspect.text import CONVENTION_LINE, dims_text, fmt_count, fmt_int, shape_text


def _rf_text(rf: ReceptiveField | None) -> str:
    """``5×5 /1`` — size and jump in input pixels; ``≤`` marks an upper bound; ``—`` no field."""
    if rf is None:
        return "—"
    return f"{'≤' if rf.bound else ''}{dims_text(rf.size)} /{dims_text(rf.jump)}"


def _ratio_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}×"


def _side(fig: StageFigures | None, prefix: str) -> dict[str, Any]:
    if fig is None:
        return {f"{prefix}_{k}": "—" for k in ("name", "shape", "params", "macs", "rf")}
    return {
        f"{prefix}_name": fig.name,
        f"{prefix}_shape": shape_text(fig.output_shape) if fig.output_shape is not None else "—",
        f"{prefix}_params": fmt_int(fig.params),
        f"{prefix}_macs": fmt_count(fig.macs) if fig.macs else "0",
        f"{prefix}_rf": _rf_text(fig.rf),
    }


# Columns hidden when the width cannot hold them all, least important first (--wide shows every one).
DROP_ORDER = (("a_params", "b_params"), ("a_macs", "b_macs"), ("a_rf", "b_rf"), ("a_name", "b_name"))


class DiffView:
    """Renders a :class:`ModelDiff` in every output format."""

    def __init__(self, result: ModelDiff) -> None:
        self.result = result

    def _row(self, data: TableData, stage: StageDiff, label: str, style: str | None = None) -> None:
        data.add(
            style=style,
            stage=label,
            **_side(stage.a, "a"),
            **_side(stage.b, "b"),
            params_ratio=_ratio_text(stage.params_ratio),
            macs_ratio=_ratio_text(stage.macs_ratio),
        )

    def table(self) -> TableData:
        d = self.result
        a, b = d.report_a, d.report_b
        data = TableData(
            title=f"A = {a.model_name} · B = {b.model_name} · input {', '.join(str(s) for s in a.inputs)}",
            columns=[
                Column("Stage", "stage"),
                Column("A", "a_name", min_width=12, cut=cut_middle),
                Column("B", "b_name", min_width=12, cut=cut_middle),
                Column("A output", "a_shape", shrink=False),
                Column("B output", "b_shape", shrink=False),
                Column("A params", "a_params", "right"),
                Column("B params", "b_params", "right"),
                Column("Params A/B", "params_ratio", "right"),
                Column("A MACs", "a_macs", "right"),
                Column("B MACs", "b_macs", "right"),
                Column("MACs A/B", "macs_ratio", "right"),
                Column("A RF /jump", "a_rf", "right"),
                Column("B RF /jump", "b_rf", "right"),
            ],
            drop_order=DROP_ORDER,
        )
        for stage in d.stages:
            self._row(data, stage, str(stage.stage))
        if d.total is not None:
            self._row(data, d.total, "total", style="bold")
        data.footer = self.footer()
        return data

    def footer(self) -> list[str]:
        d = self.result
        lines = []
        if d.total is not None and d.total.a and d.total.b:
            t = d.total
            lines.append(
                f"A/B: params {_ratio_text(t.params_ratio)} ({t.a.params:,} / {t.b.params:,}) · "
                f"MACs {_ratio_text(t.macs_ratio)} ({t.a.macs:,} / {t.b.macs:,}) · "
                f"receptive field {_rf_text(t.a.rf)} vs {_rf_text(t.b.rf)}"
            )
        if d.report_b.inputs != d.report_a.inputs:
            lines.append(f"B input: {', '.join(str(s) for s in d.report_b.inputs)}")
        lines += [
            f"Stages: the modules at depth {d.depth} in call order, matched by position; figures include "
            "everything below a stage; the total row is the whole model.",
            "RF /jump: receptive field size and jump (effective stride) of the output, in input pixels per axis.",
            f"Device: {d.report_a.device} · mode {d.report_a.mode} · batch {d.report_a.batch_size}",
            CONVENTION_LINE,
        ]
        lines.extend(f"Note (A): {n}" for n in d.report_a.notes)
        lines.extend(f"Note (B): {n}" for n in d.report_b.notes)
        return lines

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        return self.result.to_dict()

    def csv(self) -> str:
        return self.table().to_csv()

    def markdown(self) -> str:
        return self.table().to_markdown()
