"""The ``flops`` view of a FlopReport: a module tree or operator table with share bars, the heaviest
layers, the comparison with other counters, and a footer with totals and the convention."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.compare import ToolFigure
from archinspect.analyses.flops import FlopReport
from archinspect.core.report import LayerRecord
from archinspect.render.table import Column, TableData, bar, cut_middle, tree_label
from archinspect.text import CONVENTION, CONVENTION_LINE, fmt_count, fmt_int, notes_shown


def _dash(fmt: Any) -> Any:
    return lambda v: fmt(v) if v else "—"


def _share(v: float) -> str:
    return f"{v:6.1%} {bar(v)}" if v else ""


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _module_dict(m: LayerRecord, own: LayerRecord) -> dict[str, Any]:
    """A module's JSON: figures including everything it called, and its own (``own_*``)."""
    return {
        "name": m.name,
        "type": m.type,
        "depth": m.depth,
        "call": m.call,
        "params": m.params,
        "macs": m.macs,
        "flops": m.flops,
        "other_ops": m.other_ops,
        "own_macs": own.macs,
        "own_flops": own.flops,
        "own_other_ops": own.other_ops,
    }


def _peer_reason(row: Any) -> str:
    """A peer's cell under "Why it differs": its reason, or why it has no figure (not installed, failed: …)."""
    if row.status == "ok":
        return row.reason
    return f"{row.status}: {row.reason}" if row.reason else row.status


class FlopsView:
    """Renders a :class:`FlopReport` (and optionally a comparison) in every output format."""

    def __init__(
        self,
        report: FlopReport,
        *,
        by: str = "module",
        depth: int | None = None,
        top: int = 10,
        comparison: list[ToolFigure] | None = None,
    ) -> None:
        self.report = report
        self.by = by
        self.depth = report.depth if depth is None else depth
        self.top_k = top
        self.comparison = comparison

    @property
    def _scope(self) -> str:
        return "per sample" if self.report.per_sample else f"batch {self.report.batch_size}"

    def _title(self, what: str) -> str:
        r = self.report
        return f"{r.model_name} · {what} · input {r.report.input_text()} · {self._scope}"

    def module_table(self) -> TableData:
        r = self.report
        total_flops, total_other = r.totals.flops, r.totals.other_ops
        data = TableData(
            title=self._title(f"FLOPs by module (depth {self.depth})"),
            columns=[
                Column("Module", "module", min_width=12, cut=cut_middle),
                Column("Type", "type", min_width=9),
                Column("Params", "params", "right", fmt=_dash(fmt_int)),
                Column("MACs", "macs", "right", fmt=_dash(fmt_count)),
                Column("FLOPs", "flops", "right", fmt=_dash(fmt_count)),
                Column("Other ops", "other_ops", "right", fmt=_dash(fmt_count)),
                Column("Share of FLOPs", "share", fmt=_share),
            ],
            drop_order=("macs", "other_ops", "type", "params"),
        )
        for m in r.tree(self.depth):
            label = tree_label(m, r.report.records)
            data.add(
                style="bold" if m.depth == 0 else None,
                module=label,
                name=m.name,
                type=m.type,
                depth=m.depth,
                call=m.call,
                params=m.params,
                macs=m.macs,
                flops=m.flops,
                other_ops=m.other_ops,
                share=_ratio(m.flops, total_flops) if total_flops else _ratio(m.other_ops, total_other),
            )
        return data

    def op_table(self) -> TableData:
        r = self.report
        data = TableData(
            title=self._title("FLOPs by operator"),
            columns=[
                Column("Operator", "op", min_width=16),
                Column("Category", "category"),
                Column("Calls", "calls", "right", fmt=fmt_int),
                Column("MACs", "macs", "right", fmt=_dash(fmt_count)),
                Column("FLOPs", "flops", "right", fmt=_dash(fmt_count)),
                Column("Other ops", "other_ops", "right", fmt=_dash(fmt_count)),
                Column("Share", "share", fmt=_share),
            ],
            caption="share: of FLOPs for conv / matmul / attention, of other ops for the rest",
            drop_order=("macs", "category", "calls"),
        )
        for o in r.ops:
            share = _ratio(o.flops, r.totals.flops) if o.is_mac else _ratio(o.other_ops, r.totals.other_ops)
            data.add(
                op=o.op,
                category=o.category,
                calls=o.calls,
                macs=o.macs,
                flops=o.flops,
                other_ops=o.other_ops,
                share=share,
            )
        return data

    def top_table(self) -> TableData:
        r = self.report
        data = TableData(
            title=f"The {self.top_k} heaviest layers (operations run by the layer itself)",
            columns=[
                Column("#", "rank", "right"),
                Column("Layer", "layer", min_width=14, cut=cut_middle),
                Column("Type", "type", min_width=9),
                Column("FLOPs", "flops", "right", fmt=_dash(fmt_count)),
                Column("Share of FLOPs", "share", fmt=_share),
                Column("Other ops", "other_ops", "right", fmt=_dash(fmt_count)),
            ],
            drop_order=("other_ops", "type"),
        )
        for rank, m in enumerate(r.top(self.top_k), 1):
            data.add(
                rank=rank,
                layer=m.label,
                name=m.name,
                type=m.type,
                flops=m.flops,
                share=_ratio(m.flops, r.totals.flops),
                other_ops=m.other_ops,
            )
        return data

    def compare_table(self) -> TableData:
        r = self.report
        ours = r.totals.macs * r.batch_size if r.per_sample else r.totals.macs  # the comparison is per batch
        data = TableData(
            title="The same model and input, counted by other tools",
            columns=[
                Column("Tool", "tool"),
                Column("Counts", "counts"),
                Column("Figure", "value", "right", fmt=_dash(fmt_int)),
                Column("vs our MACs", "ratio", "right", fmt=lambda v: f"{v:.3f}×" if v else "—"),
                Column("From our counts", "expected", "right", fmt=_dash(fmt_int)),
                Column("Match", "match"),
                Column("Why it differs", "reason", min_width=15, notes=True),
            ],
            caption="figures for the whole batch; 'From our counts': our per-operator counts in that tool's rules",
            drop_order=("counts", "expected", "ratio"),
        )
        for row in self.comparison or []:
            match = {True: "✓", False: "✗", None: ""}[row.matches]
            data.add(
                style="dim" if row.value is None else None,
                tool=row.tool,
                counts=row.counts,
                value=row.value,
                ratio=_ratio(row.value, ours) if row.value else None,
                expected=row.expected,
                match=match,
                reason=_peer_reason(row),
                status=row.status,
                seconds=row.seconds,
            )
        return data

    def footer(self) -> list[str]:
        r, t = self.report, self.report.totals
        cats = ", ".join(f"{k} {fmt_count(v)}" for k, v in r.by_category().items())
        scope = "per sample" if r.per_sample else f"batch {r.batch_size}"
        where = f"{r.device} (nothing allocated)" if r.device == "meta" else r.device
        macs_exact = f"{t.macs:,}" if isinstance(t.macs, int) else f"{t.macs:,.1f}"
        lines = [
            f"Total ({scope}): {fmt_count(t.macs, 'MACs')} ({macs_exact}) · {fmt_count(t.flops, 'FLOPs')}",
            f"Other ops: {fmt_count(t.other_ops)}" + (f" ({cats})" if cats else ""),
            f"Params: {t.params:,} · {t.flops_per_param:,.1f} FLOPs per parameter ({scope})",
            f"Device: {where} · mode {r.mode}",
            CONVENTION_LINE,
        ]
        lines.extend(f"Note: {n}" for n in notes_shown(r.notes))
        uncounted = r.report.uncounted_text()
        if uncounted:
            lines.append(f"Not counted: {uncounted}")
        return lines

    def tables(self) -> list[TableData]:
        main = self.op_table() if self.by == "op" else self.module_table()
        out = [main]
        if self.top_k > 0:
            out.append(self.top_table())
        if self.comparison is not None:
            out.append(self.compare_table())
        return out

    # ---- the View protocol (archinspect.cli.output.emit) ----

    def rich(self) -> list[Any]:
        from rich.text import Text

        items: list[Any] = [t.to_rich() for t in self.tables()]
        items.append(Text("\n".join(self.footer())))
        return items

    def json(self) -> dict[str, Any]:
        """The JSON document for ``archinspect flops --format json`` (keys documented in docs/flops.md)."""
        r = self.report
        doc = {
            "model": r.model_name,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in r.inputs],
            "device": r.device,
            "mode": r.mode,
            "batch_size": r.batch_size,
            "per_sample": r.per_sample,
            "convention": CONVENTION,
            "notes": list(r.notes),
            **r.report.extra_keys(),
            "totals": {
                "macs": r.totals.macs,
                "flops": r.totals.flops,
                "other_ops": r.totals.other_ops,
                "params": r.totals.params,
                "flops_per_param": round(r.totals.flops_per_param, 4),
            },
            "other_ops_by_category": r.by_category(),
            "modules": [_module_dict(m, r.own(m)) for m in r.tree(self.depth)],
            "ops": [o.to_dict() for o in r.ops],
            "top": [_module_dict(m, m) for m in r.top(self.top_k)],
            "depth": self.depth,
        }
        if self.comparison is not None:
            doc["compare"] = [row.to_dict() for row in self.comparison]
        return doc

    def csv(self) -> str:
        """One table of raw numbers: the comparison when asked for, else the module tree or operators."""
        if self.comparison is not None:
            data = self.compare_table()
            data.columns = [
                Column("", k) for k in ("tool", "counts", "value", "expected", "match", "status", "seconds")
            ]
            data.columns.insert(6, Column("", "reason"))
            return data.to_csv()
        if self.by == "op":
            data = self.op_table()
            data.columns = [Column("", k) for k in ("op", "category", "calls", "macs", "flops", "other_ops")]
            return data.to_csv()
        data = self.module_table()
        keys = ("name", "type", "depth", "call", "params", "macs", "flops", "other_ops")
        data.columns = [Column("", k) for k in keys]
        return data.to_csv()

    def markdown(self) -> str:
        parts = []
        for data in self.tables():
            for row in data.rows:  # Markdown collapses leading spaces: indent with non-breaking ones
                if "module" in row:
                    row["module"] = row["module"].replace("  ", "\u00a0\u00a0")
            parts.append(data.to_markdown())
        parts.append("\n".join(f"{line}  " for line in self.footer()) + "\n")
        return "\n".join(parts)
