"""The decisions and the report of ``benchmarks/cuda_selfcheck.py``, kept apart from anything that needs a GPU.

The script gathers measurements on a CUDA machine; everything that *judges* them lives here as plain
functions on plain numbers, so that CPU tests cover it on fake results: a :class:`Check` per verdict
(pass, fail, or skip with the reason), the bounds each figure is held to, the datasheet table of dense
matmul peaks, the JSON document, the stdout table and the exit code.

Bounds (the reasoning is in docs/cuda_selfcheck.md):

- archinspect's median / ``torch.utils.benchmark.Timer``'s median per model: within
  :data:`TIMER_RATIO_BOUNDS` on a quiet GPU.
- measured matmul peak / datasheet dense peak: within :data:`PEAK_FRACTION_BOUNDS`; above 1 is impossible
  (a timing bug: events on the wrong stream measure nothing), far below means tensor cores were not used.
- predicted / measured peak memory: within :data:`MEMORY_RATIO_BOUNDS`.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS, FAIL, SKIP = "pass", "FAIL", "skip"
TIMER_RATIO_BOUNDS = (0.9, 1.1)
PEAK_FRACTION_BOUNDS = (0.25, 1.05)
MEMORY_RATIO_BOUNDS = (0.9, 1.1)
PRECISIONS = ("float32", "tf32", "float16", "bfloat16")


@dataclass
class Check:
    """One verdict: ``step`` (which part of the self-check), ``name`` (what was checked), ``status``
    (:data:`PASS`, :data:`FAIL` or :data:`SKIP`), ``detail`` (the figures or the reason, one line);
    ``value`` and ``bounds`` when the verdict is a number held to a range."""

    step: str
    name: str
    status: str
    detail: str = ""
    value: float | None = None
    bounds: tuple[float, float] | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def judge_ratio(step: str, name: str, value: float | None, bounds: tuple[float, float], what: str) -> Check:
    """PASS when ``bounds[0] <= value <= bounds[1]``; a missing or non-finite value is a FAIL (nothing was
    measured where something should have been). ``what`` names the ratio in the detail text."""
    low, high = bounds
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return Check(step, name, FAIL, f"{what}: no value", None, bounds)
    ok = low <= value <= high
    return Check(step, name, PASS if ok else FAIL, f"{what} {value:.3f} (bounds {low:.2f}-{high:.2f})", value, bounds)


# --- the datasheet table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasheetPeak:
    """Dense (no sparsity) peak TFLOP/s of one GPU model per matmul precision, from the vendor's document.

    ``pattern`` is a regular expression searched in ``torch.cuda.get_device_name()``; ``tflops`` maps a
    precision (:data:`PRECISIONS`) to TFLOP/s; a precision the GPU has no tensor-core figure for is absent.
    Half-precision figures are the ones with FP32 accumulation (what cuBLAS uses for PyTorch's matmul).
    """

    pattern: str
    gpu: str
    tflops: Mapping[str, float]
    source: str


_SPARSE = "; its tensor figures are with sparsity, halved here"
DATASHEET: tuple[DatasheetPeak, ...] = (
    DatasheetPeak(
        r"\bA100\b", "A100 (SXM4 and PCIe, 40/80 GB)",
        {"float32": 19.5, "tf32": 156.0, "float16": 312.0, "bfloat16": 312.0},
        "NVIDIA A100 Tensor Core GPU datasheet (dense figures; sparse ones are twice these)",
    ),
    DatasheetPeak(
        r"\bH100\b.*\bPCIe\b", "H100 PCIe",
        {"float32": 51.0, "tf32": 378.0, "float16": 756.5, "bfloat16": 756.5},
        "NVIDIA H100 Tensor Core GPU datasheet, H100 PCIe column" + _SPARSE,
    ),
    DatasheetPeak(
        r"\bH100\b.*(\bSXM|\bHBM3\b)", "H100 SXM",
        {"float32": 67.0, "tf32": 494.5, "float16": 989.5, "bfloat16": 989.5},
        "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column" + _SPARSE,
    ),
    DatasheetPeak(
        r"\bL40S\b", "L40S",
        {"float32": 91.6, "tf32": 183.0, "float16": 362.05, "bfloat16": 362.05},
        "NVIDIA L40S GPU datasheet (dense figures; the sparse ones beside them are twice these)",
    ),
    DatasheetPeak(
        r"\bL4\b", "L4",
        {"float32": 30.3, "tf32": 60.0, "float16": 121.0, "bfloat16": 121.0},
        "NVIDIA L4 Tensor Core GPU datasheet" + _SPARSE,
    ),
    DatasheetPeak(
        r"\bA10\b", "A10",
        {"float32": 31.2, "tf32": 62.5, "float16": 125.0, "bfloat16": 125.0},
        "NVIDIA A10 Tensor Core GPU datasheet (dense figures; sparse ones are twice these)",
    ),
    DatasheetPeak(
        r"\bT4\b", "T4",
        {"float32": 8.1, "float16": 65.0},
        "NVIDIA T4 Tensor Core GPU datasheet (FP16/FP32 mixed precision; Turing has no TF32 or BF16 tensor cores)",
    ),
    DatasheetPeak(
        r"\bV100S\b", "V100S PCIe",
        {"float32": 16.4, "float16": 130.0},
        "NVIDIA V100 Tensor Core GPU datasheet, V100S PCIe column (Tensor Performance)",
    ),
    DatasheetPeak(
        r"\bV100-SXM2\b", "V100 SXM2",
        {"float32": 15.7, "float16": 125.0},
        "NVIDIA V100 Tensor Core GPU datasheet, V100 SXM2 column (Tensor Performance)",
    ),
    DatasheetPeak(
        r"\bV100-PCIE\b", "V100 PCIe",
        {"float32": 14.0, "float16": 112.0},
        "NVIDIA V100 Tensor Core GPU datasheet, V100 PCIe column (Tensor Performance)",
    ),
    DatasheetPeak(
        r"\bRTX 3090\b(?! Ti)", "GeForce RTX 3090",
        {"float32": 35.6, "tf32": 35.6, "float16": 71.0, "bfloat16": 71.0},
        "NVIDIA Ampere GA102 GPU Architecture whitepaper, RTX 3090 column (tensor figures with FP32 accumulate)",
    ),
    DatasheetPeak(
        r"\bRTX 4090\b(?! D)", "GeForce RTX 4090",
        {"float32": 82.6, "tf32": 82.6, "float16": 165.2, "bfloat16": 165.2},
        "NVIDIA Ada GPU Architecture whitepaper, RTX 4090 column (tensor figures with FP32 accumulate)",
    ),
)


def lookup_datasheet(device_name: str) -> DatasheetPeak | None:
    """The first :data:`DATASHEET` entry whose pattern occurs in ``device_name`` (case-insensitive)."""
    for entry in DATASHEET:
        if re.search(entry.pattern, device_name, flags=re.IGNORECASE):
            return entry
    return None


def matmul_precision(dtype: str, tf32: bool | None, compute_capability: str | None) -> str:
    """The precision a ``dtype`` matmul really runs in: float32 becomes ``tf32`` when TF32 is allowed and
    the GPU has TF32 tensor cores (compute capability 8.0 and up); other dtypes are themselves."""
    if dtype != "float32":
        return dtype
    major = int(compute_capability.split(".")[0]) if compute_capability else 0
    return "tf32" if tf32 and major >= 8 else "float32"


def check_peak(device_name: str, precision: str, measured_tflops: float | None, name: str | None = None) -> Check:
    """Measured matmul TFLOP/s against the datasheet's dense figure for ``precision``. An unknown GPU, or a
    precision its datasheet has no figure for, is a SKIP saying so (not a failure)."""
    label = name or f"matmul peak {precision}"
    entry = lookup_datasheet(device_name)
    if entry is None:
        return Check("peak", label, SKIP, f"unknown GPU {device_name!r}: no datasheet figure in the table")
    figure = entry.tflops.get(precision)
    if figure is None:
        return Check("peak", label, SKIP, f"{entry.gpu}: the datasheet gives no {precision} figure")
    if measured_tflops is None:
        return Check("peak", label, FAIL, "the matmul peak was not measured")
    check = judge_ratio("peak", label, measured_tflops / figure, PEAK_FRACTION_BOUNDS, "fraction of datasheet")
    check.detail = f"{measured_tflops:.1f} of {figure:g} TFLOP/s ({entry.gpu}): {check.detail}"
    return check


# --- profile: module times against the profiler's kernels ---------------------------------------------

# Events bracket a module on the stream, so its time includes the gaps between its kernels that kernel time
# leaves out (launch latency when the GPU waits for the host); for the slowest modules at batch 32 those gaps
# are small, and a ratio outside these bounds means events timed something else (another stream, no work).
PROFILE_KERNEL_RATIO_BOUNDS = (0.8, 1.25)
TOP_TIE = 0.10  # modules outside the other list's top N that are within 10 % of its N-th still agree


def same_top(ours: Mapping[str, float], theirs: Mapping[str, float], top: int = 5) -> tuple[int, list[str], bool]:
    """(modules in both top-``top`` lists, modules in only one, whether each of those ties: its time in the other
    tool is within :data:`TOP_TIE` of that tool's ``top``-th). Repeated identical layers make ties common."""
    a = sorted(ours, key=ours.__getitem__, reverse=True)[:top]
    b = sorted(theirs, key=theirs.__getitem__, reverse=True)[:top]
    only_a = [n for n in a if n not in b]
    only_b = [n for n in b if n not in a]
    tied = all(theirs.get(n, 0.0) >= (1 - TOP_TIE) * theirs[b[-1]] for n in only_a) and all(
        ours.get(n, 0.0) >= (1 - TOP_TIE) * ours[a[-1]] for n in only_b
    )
    return len(set(a) & set(b)), only_a + only_b, tied


def check_top_modules(label: str, ours: Mapping[str, float], kernels: Mapping[str, float], top: int = 5) -> Check:
    """PASS when the two top-``top`` lists hold the same modules, ties allowed (see :func:`same_top`)."""
    same, others, tied = same_top(ours, kernels, top)
    detail = f"{same}/{top} in both" + (f"; only in one: {', '.join(others)}" if others else "")
    detail += " (ties)" if others and tied else ""
    return Check("profile", f"{label} top {top} modules", PASS if tied else FAIL, detail)


def check_module_kernel_times(
    label: str, ours: Mapping[str, float], kernels: Mapping[str, float], top: int = 5
) -> list[Check]:
    """Our ``top`` slowest modules (event seconds), each against the profiler's kernel seconds for it."""
    out = []
    for name in sorted(ours, key=ours.__getitem__, reverse=True)[:top]:
        k = kernels.get(name)
        check = judge_ratio(
            "profile", f"{label} {name} events/kernels", ours[name] / k if k else None, PROFILE_KERNEL_RATIO_BOUNDS,
            "ratio",
        )  # fmt: skip
        if k:
            check.detail = f"{ours[name] * 1e3:.3f} / {k * 1e3:.3f} ms: {check.detail}"
        out.append(check)
    return out


# --- pytest, bench rows, documents ---------------------------------------------------------------------

_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)\b")


def parse_pytest_counts(output: str) -> dict[str, int]:
    """Counts from pytest's final summary line (``3 passed, 1 skipped, 40 deselected in 2.1s``)."""
    lines = [ln for ln in output.strip().splitlines() if _COUNT.search(ln)]
    if not lines:
        return {}
    counts: dict[str, int] = {}
    for n, word in _COUNT.findall(lines[-1]):
        key = "errors" if word.startswith("error") else word
        counts[key] = counts.get(key, 0) + int(n)
    return counts


def check_pytest(returncode: int, output: str) -> Check:
    """The ``cuda``-marked tests: PASS when pytest exits 0 and at least one test passed, none skipped
    (on a CUDA machine a skip means the GPU was not seen) and none failed."""
    c = parse_pytest_counts(output)
    detail = ", ".join(f"{v} {k}" for k, v in c.items()) or f"no summary line (exit {returncode})"
    ok = returncode == 0 and c.get("passed", 0) > 0 and not (c.get("failed") or c.get("errors") or c.get("skipped"))
    return Check("cuda-tests", "pytest -m cuda", PASS if ok else FAIL, detail)


def check_bench_rows(doc: Mapping[str, Any], label: str) -> list[Check]:
    """One check per row of a bench JSON document (``BenchResult.to_dict()``): it must have timings and no
    error; the detail gives the median and, where measured, the share of the matmul peak."""
    out = []
    for r in doc.get("rows", []):
        name = f"{label} {r['model']} b{r['batch']} {r['variant']}"
        if r.get("error") or not r.get("n_samples"):
            out.append(Check("bench", name, FAIL, r.get("error") or "no samples"))
            continue
        share = f", {r['peak_fraction']:.0%} of peak" if r.get("peak_fraction") is not None else ""
        out.append(Check("bench", name, PASS, f"median {r['median_ms']:.3f} ms, n={r['n_samples']}{share}"))
    if not out:
        out.append(Check("bench", label, FAIL, "no rows"))
    return out


def check_setting(step: str, name: str, reported: Any, expected: Any) -> Check:
    """A reported setting (e.g. the header's ``tf32_matmul``) equals what the run set."""
    ok = reported == expected
    return Check(step, name, PASS if ok else FAIL, f"reported {reported!r}, set {expected!r}")


def diff_documents(a: Any, b: Any, ignore: tuple[str, ...] = ("device", "notes"), path: str = "") -> list[str]:
    """Paths where two JSON documents differ (keys in ``ignore`` skipped at every level); [] when equal."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            if key in ignore:
                continue
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                out.extend(diff_documents(a[key], b[key], ignore, sub))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}[len {len(a)} != {len(b)}]"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in diff_documents(x, y, ignore, f"{path}[{i}]")]
    return [] if a == b else [path or "(root)"]


def check_same_documents(step: str, name: str, reference: Any, other: Any, summary: str = "") -> Check:
    """PASS when ``other`` equals ``reference`` apart from the device and notes; the detail lists up to
    three differing paths."""
    diffs = diff_documents(reference, other)
    if not diffs:
        return Check(step, name, PASS, summary or "identical apart from device and notes")
    more = f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else ""
    return Check(step, name, FAIL, "differs at " + ", ".join(diffs[:3]) + more)


# --- the report ----------------------------------------------------------------------------------------


@dataclass
class SelfCheckReport:
    """Every check, the raw data each step gathered (``data[step]``) and each step's seconds."""

    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, *checks: Check) -> None:
        self.checks.extend(checks)

    @property
    def ok(self) -> bool:
        """Every check passed or was skipped for a stated reason, and there was at least one pass."""
        return any(c.status == PASS for c in self.checks) and not any(c.failed for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in (PASS, FAIL, SKIP)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "archinspect.cuda_selfcheck/1",
            "ok": self.ok,
            "counts": self.counts(),
            "seconds": dict(self.seconds),
            "checks": [asdict(c) for c in self.checks],
            "data": self.data,
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")

    def table(self) -> str:
        """The stdout summary: one line per check (step, result, name, detail), then the totals."""
        w_step = max([len(c.step) for c in self.checks] + [4])
        w_name = max([len(c.name) for c in self.checks] + [5])
        lines = [f"{'step':<{w_step}}  {'result':<6}  {'check':<{w_name}}  detail"]
        lines.append("-" * len(lines[0]))
        lines += [f"{c.step:<{w_step}}  {c.status:<6}  {c.name:<{w_name}}  {c.detail}" for c in self.checks]
        n = self.counts()
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        verdict = "ALL CHECKS HOLD" if self.ok else "SOME CHECKS FAILED"
        lines.append(f"{verdict}: {n[PASS]} passed, {n[FAIL]} failed, {n[SKIP]} skipped; time: {steps}")
        return "\n".join(lines)


def run_step(
    report: SelfCheckReport, step: str, fn: Callable[[], None], clock: Callable[[], float] = time.perf_counter
) -> None:
    """Run one step, record its seconds; an exception becomes a FAIL check of that step (the error's last
    line, full traceback in ``data[step + ".traceback"]``) and the self-check goes on with the next step."""
    t0 = clock()
    try:
        fn()
    except Exception as exc:
        report.add(Check(step, "step ran", FAIL, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"))
        report.data[f"{step}.traceback"] = traceback.format_exc()
    finally:
        report.seconds[step] = clock() - t0
