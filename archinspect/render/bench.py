"""Renderings of a :class:`BenchResult`: a rich table with the environment header on a terminal, and
JSON (every figure, every sample, the header), CSV (one line per row, raw numbers) and Markdown."""

from __future__ import annotations

import csv
import io
from typing import Any

from archinspect.bench.policy import oversubscription
from archinspect.bench.result import SPREAD_WARNING, BenchResult, BenchRow
from archinspect.render.escape import csv_cell, markdown_text
from archinspect.render.table import Column, TableData, cut_middle
from archinspect.text import CONVENTION, CONVENTION_LINE, fmt_bytes

CSV_KEYS = (
    "model", "batch", "variant", "dtype", "amp", "channels_last", "inputs", "median_ms", "p10_ms", "p90_ms",
    "iqr_ms", "rel_iqr", "mean_ms", "min_ms", "max_ms", "n_samples", "stopped_by", "unstable", "samples_per_s",
    "flops_per_batch", "gflops_per_sample", "achieved_tflops", "peak_fraction", "peak_memory_bytes",
    "compile_time_s", "warmup_iters", "warmup_time_s", "error", "warnings",
)  # fmt: skip



# Columns hidden when the width cannot hold them all, least important first (--wide shows every one).
# What a reader compares most (throughput against the device's peak) goes last: at 80 columns % peak and
# TFLOP/s stay; Compile s stays at 120.
DROP_ORDER = (
    "p10_ms", "p90_ms", "gflops_per_sample", "peak_memory_bytes", "compile_time_s", "variant",
    "achieved_tflops", "peak_fraction",
)  # fmt: skip


def _na(fmt: Any) -> Any:
    """Format numbers; pass words (``OOM``, ``n/a``) through; ``None`` becomes ``n/a``."""
    return lambda v: "n/a" if v is None else v if isinstance(v, str) else fmt(v)


def header_lines(result: BenchResult) -> list[str]:
    """The environment header as short lines (device, versions, TF32, threads, measured peak)."""
    e = result.environment
    lines = [f"device: {e.device} · {e.device_name}"]
    versions = f"torch {e.torch_version} · python {e.python_version}"
    if e.cuda_version is not None:
        versions += f" · CUDA {e.cuda_version} · cuDNN {e.cudnn_version} · capability {e.compute_capability}"
    lines.append(versions)
    if e.tf32_matmul is not None:
        lines.append(
            f"TF32: matmul {'on' if e.tf32_matmul else 'off'}, cuDNN {'on' if e.tf32_cudnn else 'off'} · "
            f"float32 matmul precision {e.float32_matmul_precision} · cudnn.benchmark on"
        )
    else:
        lines.append(f"TF32: n/a on CPU · float32 matmul precision {e.float32_matmul_precision}")
    load = f" · load average {e.load_average:.2f} on {e.cpu_count} CPUs" if e.load_average is not None else ""
    lines.append(f"threads: {e.threads} (interop {e.interop_threads}){load}")
    p = result.peak
    if p is not None:
        lines.append(
            f"matmul peak: {p.tflops:.3f} TFLOP/s ({p.dtype}, {p.size}x{p.size} @ {p.size}x{p.size}, "
            f"median of {p.n_samples}, IQR/median {p.rel_iqr:.1%})"
        )
    else:
        why = result.settings.get("peak_error")
        lines.append(f"matmul peak: not measured ({why})" if why else "matmul peak: not measured")
    s = result.settings
    amp = f" · amp ({s.get('amp_dtype')})" if s.get("amp") else ""
    cl = " · channels-last" if s.get("channels_last") else ""
    lines.append(
        f"dtype {s.get('dtype')}{amp}{cl} · warm-up ≥{s.get('warmup_iters')} calls and ≥{s.get('warmup_time_s')} s"
        f" · samples ≥{s.get('min_iters')} and ≥{s.get('min_time_s')} s until IQR/median ≤ "
        f"{s.get('target_rel_iqr', 0):.0%} (cap {s.get('max_iters')} calls, {s.get('max_time_s')} s)"
    )
    return lines


def footer_lines(result: BenchResult, *, busy_said: bool = False) -> list[str]:
    """The lines under the table. ``busy_said``: the busy-machine warning was already printed (on stderr,
    before timing, on the same terminal), so it is not repeated."""
    lines = [
        CONVENTION_LINE,
        "Latency = one forward call of the whole batch. TFLOP/s = FLOPs per batch / median; "
        "% peak = that / the matmul peak measured above.",
    ]
    if result.environment.device.startswith("cpu"):
        lines.append("Peak memory: n/a on CPU (the CPU allocator keeps no peak statistics).")
    else:
        lines.append("Peak memory: torch.cuda.max_memory_allocated (weights, inputs, activations).")
    e = result.environment
    cpu_run = e.device.startswith("cpu")
    busy = oversubscription(e.cpu_count, e.load_average, e.threads, result.settings.get("threads"), cpu_run=cpu_run)
    if busy is not None and not busy_said:
        lines.append(f"warning: {busy}")
    for row in result.rows:
        for w in row.warnings:
            lines.append(f"warning: {row.model} batch {row.batch} {row.variant}: {w}")
        if row.error is not None and row.error != "out of memory":
            lines.append(f"error: {row.model} batch {row.batch} {row.variant}: {row.error}")
    return lines


def table_data(result: BenchResult, *, busy_said: bool = False) -> TableData:
    ms = _na(lambda v: f"{v:.3f}")
    data = TableData(
        title="archinspect bench",
        columns=[
            Column("Model", "model", min_width=16, cut=cut_middle),
            Column("Batch", "batch", "right"),
            Column("Variant", "variant"),
            Column("Median ms", "median_ms", "right", fmt=ms),
            Column("p10 ms", "p10_ms", "right", fmt=ms),
            Column("p90 ms", "p90_ms", "right", fmt=ms),
            Column("IQR/med", "rel_iqr", "right", fmt=_na(lambda v: f"{v:.1%}" + (" !" if v > SPREAD_WARNING else ""))),
            Column("Samples/s", "samples_per_s", "right", fmt=_na(lambda v: f"{v:,.1f}")),
            Column("GFLOPs/sample", "gflops_per_sample", "right", fmt=_na(lambda v: f"{v:.3f}")),
            Column("TFLOP/s", "achieved_tflops", "right", fmt=_na(lambda v: f"{v:.3f}")),
            Column("% peak", "peak_fraction", "right", fmt=_na(lambda v: f"{v:.1%}")),
            Column("Peak mem", "peak_memory_bytes", "right", fmt=_na(fmt_bytes)),
            Column("n", "n_samples", "right"),
            Column("Compile s", "compile_time_s", "right", fmt=lambda v: "" if v is None else f"{v:.2f}"),
        ],
        footer=footer_lines(result, busy_said=busy_said),
        drop_order=DROP_ORDER,
    )
    if all(r.compile_time_s is None for r in result.rows):  # the column only when something was compiled
        data.columns = [c for c in data.columns if c.key != "compile_time_s"]
    for row in result.rows:
        d = row.to_dict(with_samples=False)
        if row.error is not None:
            d["median_ms"] = "OOM" if row.error == "out of memory" else "failed"
        elif d["peak_memory_bytes"] is None:
            d["peak_memory_bytes"] = "n/a"
        if row.unstable:  # a spread from 3 samples proves nothing: say so where the spread would be
            d["rel_iqr"] = "unstable"
            d["n_samples"] = f"{d['n_samples']} of {row.min_samples}"
        data.add(style=_style(row), **d)
    return data


def _style(row: BenchRow) -> str | None:
    if row.error is not None:
        return "red"
    st = row.stats
    return "yellow" if row.unstable or (st is not None and st.rel_iqr > SPREAD_WARNING) else None


class BenchView:
    """One result, every output format (the ``View`` protocol of ``archinspect.cli.common``)."""

    def __init__(self, result: BenchResult, *, busy_said: bool = False) -> None:
        self.result = result
        self.busy_said = busy_said  # the busy-machine warning is on screen already: the table's footer omits it

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = table_data(self.result, busy_said=self.busy_said)
        header = Text("\n".join(header_lines(self.result)), style="dim")
        footer = Text("\n".join(data.footer), style="dim")
        return [header, data.to_rich(), footer]

    def json(self) -> dict[str, Any]:
        return {**self.result.to_dict(with_samples=True), "convention": CONVENTION}

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_KEYS)
        for row in self.result.rows:
            d = row.to_dict(with_samples=False)
            d["inputs"] = " ".join(d["inputs"])
            d["warnings"] = "; ".join(d["warnings"])
            writer.writerow([csv_cell("" if d[k] is None else d[k]) for k in CSV_KEYS])
        return buf.getvalue()

    def markdown(self) -> str:
        head = "\n".join(f"{markdown_text(line)}  " for line in header_lines(self.result))
        return head + "\n\n" + table_data(self.result).to_markdown()
