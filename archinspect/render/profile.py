"""Renderings of ``profile``: a :class:`ProfileReport` (per-module time, roofline verdicts, reconciliation) and a
:class:`TrainStepReport` (the training step by phase, samples/s, peak memory measured beside predicted)."""

from __future__ import annotations

from typing import Any

from archinspect.bench.profile_report import RECONCILE_TOLERANCE, ProfileReport, ProfileRow
from archinspect.bench.result import Environment
from archinspect.bench.train import PHASES, TrainStepReport
from archinspect.bench.verdict import OVERHEAD_FACTOR, ROOF_FRACTION
from archinspect.render.table import Column, TableData, bar, tree_label
from archinspect.text import fmt_bytes

TOP_SAVINGS = 10


def _ms(s: float) -> str:
    return f"{s * 1e3:.3f}"


def _3f(v: float) -> str:
    return f"{v:.3f}"


def _rate(v: float, unit: str) -> str:
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.2f} {prefix}{unit}"
    return f"{v:.0f} {unit}" if v else "—"


def _intensity(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def environment_line(e: Environment) -> str:
    load = f" · load average {e.load_average:.2f} on {e.cpu_count} CPUs" if e.load_average is not None else ""
    return f"device: {e.device} · {e.device_name} · torch {e.torch_version} · threads {e.threads}{load}"


class ProfileView:
    """Renders a :class:`ProfileReport` in every output format (and as a roofline SVG)."""

    def __init__(self, report: ProfileReport, depth: int | None = None, label: str | None = None) -> None:
        self.report = report
        self.depth = report.depth if depth is None else depth
        self.label = label or report.model_name

    def _columns(self, tree: bool) -> list[Column]:
        return [
            Column("Layer", "layer") if tree else Column("Layer", "name"),
            Column("Type", "type"),
            Column("Time ms", "time_ms", "right", fmt=_3f),
            Column("Share", "share", "right", fmt=lambda v: f"{v:6.1%} {bar(v, 8)}", shrink=False),
            Column("FLOP/s", "flops_per_s", "right", fmt=lambda v: _rate(v, "")),
            Column("Bytes/s", "bytes_per_s", "right", fmt=lambda v: _rate(v, "B")),
            Column("FLOP/B", "intensity", "right", fmt=_intensity),
            Column("% roof", "roof_fraction", "right", fmt=lambda v: f"{v:.0%}"),
            Column("Verdict", "verdict", shrink=False),
            Column("Saving ms", "saving_ms", "right", fmt=_3f),
        ]

    def _add(self, data: TableData, row: ProfileRow, tree: bool) -> None:
        v = row.verdict
        rec = row.record
        data.add(
            layer=tree_label(rec, self.report.records) if tree else rec.label,
            name=rec.label,
            type=rec.type,
            depth=rec.depth,
            time_ms=row.seconds * 1e3,
            share=row.share,
            flops=row.flops,
            bytes=row.bytes,
            flops_per_s=v.achieved_flops_per_s,
            bytes_per_s=v.achieved_bytes_per_s,
            intensity=v.intensity,
            roof_fraction=v.roof_fraction,
            verdict=v.verdict,
            saving_ms=v.saving_s * 1e3,
        )

    def table(self) -> TableData:
        r = self.report
        data = TableData(
            title=f"{self.label} · {r.settings['device']} {r.settings['compute_dtype']} · input {', '.join(r.inputs)}",
            columns=self._columns(tree=True),
            drop_order=("type", "bytes_per_s", "flops_per_s", "intensity", "saving_ms"),
        )
        for row in r.rows(self.depth):
            self._add(data, row, tree=True)
        data.footer = self.footer()
        return data

    def savings(self) -> TableData:
        data = TableData(
            title=f"Where reaching the roof saves most (top {TOP_SAVINGS}, rows at depth {self.depth})",
            columns=self._columns(tree=False),
            drop_order=("type", "bytes_per_s", "flops_per_s", "intensity", "share"),
        )
        for row in [r for r in self.report.ranked(self.depth) if r.verdict.saving_s > 0][:TOP_SAVINGS]:
            self._add(data, row, tree=False)
        return data

    def footer(self) -> list[str]:
        r = self.report
        c, rec = r.ceilings, r.reconciliation
        gap_word = "within" if rec.reconciled else "outside"
        if rec.reconciled:
            why = ""
        elif rec.explained:
            why = (
                " — explained by what the instrumentation measurably left"
                if rec.gap_s > 0
                else (" — explained by the interruptions per-module medians skip")
            )
        else:
            why = " — NOT explained by the measured overhead or interruptions"
        return [
            environment_line(r.environment),
            f"Roofs measured in this run ({c.dtype}): matmul peak {_rate(c.flops_per_s, 'FLOP/s')} "
            f"({c.peak.size}x{c.peak.size}, IQR/median {c.peak.rel_iqr:.0%}) · copy bandwidth "
            f"{_rate(c.bytes_per_s, 'B/s')} ({fmt_bytes(c.copy_bytes)} moved per copy, IQR/median "
            f"{c.copy_rel_iqr:.0%}) · ridge {c.ridge:.1f} FLOP/B · fixed cost {c.fixed_s * 1e6:.1f} µs per tiny call "
            f"(one per operator run; {c.call_s * 1e6:.1f} µs called plainly)",
            f"Reconciliation: per-module sum {_ms(rec.module_sum_s)} ms vs the uninstrumented forward's median "
            f"{_ms(rec.plain.median)} ms (n={rec.plain.n}, IQR/median {rec.plain.rel_iqr:.0%}, timed between the "
            f"instrumented passes): gap {rec.gap_s * 1e3:+.3f} ms ({rec.gap_fraction:+.1%}), {gap_word} "
            f"±{RECONCILE_TOLERANCE:.0%}{why}; of it, {-rec.interruption_s * 1e3:+.3f} ms are interruptions that whole "
            f"passes include and per-module medians skip (a pass's modules sum to a median of "
            f"{_ms(rec.pass_sums.median)} ms, IQR/median {rec.pass_sums.rel_iqr:.0%}), "
            f"{rec.pass_gap_s * 1e3:+.3f} ms what the instrumentation left",
            f"Instrumentation: {rec.hook_s * 1e6:.1f} µs per module call measured on a calibration module × "
            f"{rec.calls - 1} calls = {rec.predicted_overhead_s * 1e3:.3f} ms removed from the times; the "
            f"instrumented forward took {rec.overhead_s * 1e3:+.3f} ms more than the plain one "
            f"(medians of {rec.instrumented.n} and {rec.plain.n})",
            f"Verdict: overhead-bound when the roof time is under the fixed cost (one tiny call's per operator run) "
            f"and the time within "
            f"{OVERHEAD_FACTOR:g}× of it; compute- or memory-bound at {ROOF_FRACTION:.0%} of that roof or more; "
            "else below its roof. Saving = time − max(roof time, fixed cost). FLOPs = 2 × MACs + other ops; "
            "bytes = every operator's tensor inputs (weights included) and outputs.",
            f"Times: median own time over {r.settings['repeats']} timed passes ({r.settings['timer']}), "
            "a row includes the rows folded into it; % roof over 100 % on the memory side means the data came "
            "from cache, faster than the copy bandwidth.",
            *(f"Note: {n}" for n in r.notes),
        ]

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), self.savings().to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        return self.report.to_dict(self.depth)

    def csv(self) -> str:
        data = self.table()
        data.columns[0].key = "name"
        data.columns[1:1] = [Column("Depth", "depth")]
        data.columns += [Column("FLOPs", "flops"), Column("Bytes", "bytes")]
        return data.to_csv()

    def markdown(self) -> str:
        data = self.table()
        for row in data.rows:
            row["layer"] = row["layer"].replace("  ", "\u00a0\u00a0")
        return data.to_markdown() + "\n" + self.savings().to_markdown()

    def svg(self) -> str:
        return self.report.roofline_svg(self.depth)


class TrainStepView:
    """Renders a :class:`TrainStepReport`: phases (median, p10, p90, share), throughput, peak memory."""

    def __init__(self, report: TrainStepReport, label: str | None = None) -> None:
        self.report = report
        self.label = label or report.model_name

    def table(self) -> TableData:
        r = self.report
        s = r.settings
        flags = [f for f, on in (("amp", s["amp"]), ("channels-last", s["channels_last"]),
                                 ("checkpointing", s["checkpoint"])) if on]  # fmt: skip
        data = TableData(
            title=f"{self.label} · training step · {s['device']} {s['dtype']} · input {', '.join(r.inputs)}"
            + (f" · {', '.join(flags)}" if flags else ""),
            columns=[
                Column("Phase", "phase"),
                Column("Median ms", "median_ms", "right", fmt=_3f),
                Column("p10 ms", "p10_ms", "right", fmt=_3f),
                Column("p90 ms", "p90_ms", "right", fmt=_3f),
                Column("Share", "share", "right", fmt=lambda v: f"{v:6.1%} {bar(v, 8)}", shrink=False),
            ],
        )
        for name in PHASES:
            st = r.phases[name]
            data.add(
                phase=name, median_ms=st.median * 1e3, p10_ms=st.p10 * 1e3, p90_ms=st.p90 * 1e3,
                share=st.median / r.phase_sum_s,
            )  # fmt: skip
        st = r.step
        data.add("bold", phase="step", median_ms=st.median * 1e3, p10_ms=st.p10 * 1e3, p90_ms=st.p90 * 1e3, share=1.0)
        data.footer = self.footer()
        return data

    def footer(self) -> list[str]:
        r = self.report
        lines = [
            environment_line(r.environment),
            f"Throughput: {r.samples_per_s:.2f} samples/s (median; p10-p90 {r.batch / r.step.p90:.2f}-"
            f"{r.batch / r.step.p10:.2f}) · {r.step.n} steps, stopped by {r.stopped_by} · IQR/median "
            f"{r.step.rel_iqr:.1%} · phases sum to {_ms(r.phase_sum_s)} ms",
            f"Step: zero_grad(set_to_none) · forward · loss ({r.loss}) · backward · {r.settings['optimizer']} step",
        ]
        measured = fmt_bytes(r.measured_peak_bytes) if r.measured_peak_bytes else "n/a"
        predicted = fmt_bytes(r.predicted_peak_bytes) if r.predicted_peak_bytes else "n/a"
        ratio = f" · measured/predicted {r.peak_ratio:.3f}" if r.peak_ratio is not None else ""
        lines.append(f"Peak memory: measured {measured} ({r.peak_method}) · predicted {predicted} "
                     f"(archinspect memory --mode train){ratio}")  # fmt: skip
        if r.prediction_note:
            lines.append(f"Prediction: {r.prediction_note}")
        lines.extend(f"Note: {n}" for n in r.notes)
        return lines

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        return self.report.to_dict()

    def csv(self) -> str:
        return self.table().to_csv()

    def markdown(self) -> str:
        return self.table().to_markdown()
