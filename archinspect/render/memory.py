"""The ``memory`` view of a MemoryReport: module rows (what each allocates, saves, holds at the peak), the
peak and its breakdown, the batch that fits a budget, and what is and is not counted."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.memory_report import BatchFit, MemoryReport
from archinspect.analyses.train_step import OPTIMIZERS, STATEFUL
from archinspect.render.table import Column, TableData, cut_middle, tree_label
from archinspect.text import fmt_bytes, notes_shown

KIND_LABELS = {
    "params": "params",
    "buffers": "buffers",
    "inputs": "inputs",
    "grads": "grads",
    "optimizer_state": "optimizer state",
    "saved_activations": "saved activations",
    "other_activations": "other activations",
    "temporaries": "temporaries",
}


def _bytes_or_dash(n: Any) -> str:
    return fmt_bytes(n) if n else "—"


def sized(n: int) -> str:
    """``7.86 GiB (8,440,000,000 bytes)``."""
    return f"{fmt_bytes(n)} ({n:,} bytes)"


def counted_text(block: int) -> list[str]:
    """The footer line saying what the peak includes and leaves out (docs/memory.md says it in full)."""
    rounding = f"rounded up to {block}-byte blocks" if block > 1 else "exact tensor bytes"
    return [
        f"Counted: every live tensor storage once ({rounding}). Not counted: the allocator's cache, the CUDA "
        "context, kernel workspaces (docs/memory.md)"
    ]


class MemoryView:
    """Renders a :class:`MemoryReport` (and, with ``fit``, the budget search) in every output format."""

    def __init__(self, report: MemoryReport, depth: int = 2, fit: BatchFit | None = None, label: str | None = None):
        self.report = report
        self.depth = depth
        self.fit = fit
        self.label = label or report.model_name

    def table(self) -> TableData:
        r = self.report
        train = r.mode == "train"
        columns = [
            Column("Layer", "layer", cut=cut_middle),
            Column("Type", "type"),
            Column("Output", "output_bytes", "right", fmt=_bytes_or_dash),
            Column("Allocated", "allocated_bytes", "right", fmt=_bytes_or_dash),
        ]
        if train:
            columns.append(Column("Saved for backward", "saved_bytes", "right", fmt=_bytes_or_dash))
        columns.append(Column("Held at peak", "held_at_peak_bytes", "right", fmt=_bytes_or_dash))
        what = f"training step ({r.optimizer})" if train else "inference"
        data = TableData(
            title=f"{self.label} · {what} · input {', '.join(str(s) for s in r.inputs)}",
            columns=columns,
            drop_order=("type", "output_bytes", "allocated_bytes"),
        )
        for rec in r.rows(self.depth):
            name = tree_label(rec, r.records)
            data.add(
                layer=name,
                name=rec.name,
                type=rec.type,
                depth=rec.depth,
                output_bytes=rec.output_bytes,
                allocated_bytes=rec.allocated_bytes,
                saved_bytes=rec.saved_bytes,
                held_at_peak_bytes=rec.held_at_peak_bytes,
            )
        data.footer = self.footer()
        return data

    def footer(self) -> list[str]:
        r = self.report
        batch = r.batch_size
        per_sample = f" · batch {batch}" + (
            f", {fmt_bytes((r.peak_bytes - r.baseline_bytes) / batch)} per sample above the baseline"
            if batch > 1
            else ""
        )
        parts = " · ".join(f"{KIND_LABELS[k]} {fmt_bytes(v)}" for k, v in r.breakdown.items() if v)
        phases = " · ".join(f"{p} {fmt_bytes(v)}" for p, v in r.phase_peaks.items())
        lines = [
            f"Peak: {sized(r.peak_bytes)} during the {r.peak_phase}{per_sample}",
            f"At the peak: {parts}",
            f"Highest in each phase: {phases} · before the forward: {fmt_bytes(r.baseline_bytes)}",
        ]
        if r.mode == "train":
            state = (
                "; its state exists before the step (a steady-state step: the first step allocated it)"
                if r.optimizer in STATEFUL
                else ""
            )
            lines.append(
                f"Saved for backward: {fmt_bytes(r.saved_bytes)} in all · optimizer {r.optimizer}"
                f"{' (foreach)' if r.foreach else ''}: {OPTIMIZERS[r.optimizer or 'none']}{state}"
            )
        if self.fit is not None:
            f = self.fit
            nxt = (
                f"batch {f.next_batch} needs {fmt_bytes(f.next_peak_bytes or 0)}"
                if f.next_batch is not None
                else "the search stopped at its maximum batch"
            )
            lines.append(
                f"Budget {sized(f.budget_bytes)}: largest batch {f.batch} (peak {fmt_bytes(f.peak_bytes)}); "
                f"{nxt} · {len(f.probes)} batch sizes computed"
            )
        where = "meta" if r.device == "meta" else f"{r.device} rules (computed on meta)"
        lines.append(
            f"Mode {r.mode} · dtype {r.dtype}{' · amp' if r.amp else ''} · device {where}, nothing allocated · "
            "a module's figures include its submodules"
        )
        lines.extend(counted_text(r.block_bytes))
        lines.extend(f"Note: {n}" for n in notes_shown(r.notes))
        return lines

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        d = self.report.to_dict(self.depth)
        d["fit"] = self.fit.to_dict() if self.fit is not None else None
        return d

    def csv(self) -> str:
        data = self.table()
        data.columns[0].key = "name"
        data.columns.insert(2, Column("Depth", "depth"))
        return data.to_csv()

    def markdown(self) -> str:
        data = self.table()
        for row in data.rows:  # Markdown collapses leading spaces: indent with non-breaking ones
            row["layer"] = row["layer"].replace("  ", "\u00a0\u00a0")
        return data.to_markdown()


class BatchFitView:
    """A :class:`BatchFit` (``archinspect.largest_batch``): the report at the batch found, with the search's
    line in its footer, or (without a report) the batch sizes computed."""

    def __init__(self, fit: BatchFit) -> None:
        self.fit = fit

    def table(self) -> TableData:
        f = self.fit
        data = TableData(
            title=f"Largest batch within {sized(f.budget_bytes)}: {f.batch}",
            columns=[
                Column("Batch", "batch", "right"),
                Column("Peak", "peak", "right", fmt=fmt_bytes),
                Column("Fits", "fits"),
            ],
        )
        for batch, peak in sorted(f.probes):
            data.add(style="bold" if batch == f.batch else None, batch=batch, peak=peak,
                     fits="✓" if peak <= f.budget_bytes else "✗")
        return data

    def rich(self) -> list[Any]:
        if self.fit.report is not None:
            return MemoryView(self.fit.report, fit=self.fit).rich()
        return [self.table().to_rich()]
