"""Do ``profile``'s per-module times add up to ``bench``'s whole-forward median? One thread, batch 1.

For each model: ``archinspect.benchmark`` (the uninstrumented forward, bench's loop) and then
``archinspect profile`` on the same model object. The columns: bench's median; the sum of every module's own
time (the measured instrumentation cost per call removed); the gap between them; the instrumentation cost per
module call measured on the calibration module, and what it predicts for the model's calls beside what the
instrumented forward measurably took over the plain one. ``profile`` also times the plain forward itself,
interleaved with its instrumented passes. On a busy machine two things separate the sum from bench: bench's run
(seconds earlier) drifts from profile's own plain forward, and interruptions (preemption by other processes) land
in a whole pass but in a module only now and then, so per-module medians skip them. The verdict is "explained"
when a pass's modules sum to within 10 % of the plain forward and those two effects make up the rest.

The models: resnet18, resnet50, densenet121 (zoo) and a local MobileNetV2 (benchmarks/_mobilenet_v2.py, the
torchvision layout; torchvision itself needs another torch than this environment's).

With ``--clock thread`` profile times the thread's CPU time (``time.thread_time_ns``), which other processes
taking the core do not inflate: its per-module sum is then held to its own plain forward in CPU time, a check
of the accounting that a busy machine cannot spoil (bench's column stays wall time, for reference). A sum above
the plain forward by more than 10 % is "explained" when the instrumentation measurably added at least that much
(instrumented − plain medians) beyond what the calibration removed.

    nice -n -5 python benchmarks/profile_reconcile.py [--models resnet18,resnet50,densenet121,mobilenet_v2]
                                                      [--clock wall|thread]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

import archinspect
from archinspect.bench.profile import profile
from archinspect.core.inputs import InputSpec
from archinspect.models.loading import load_model

sys.path.insert(0, str(Path(__file__).parent))
from _mobilenet_v2 import MobileNetV2  # noqa: E402

TOLERANCE = 0.10


def load(name: str) -> tuple[torch.nn.Module, InputSpec]:
    if name == "mobilenet_v2":
        return MobileNetV2().eval(), InputSpec((1, 3, 224, 224))
    loaded = load_model(name, device="cpu")
    return loaded.model.eval(), loaded.default_inputs[0]


def row(name: str, repeats: int, clock: str) -> dict[str, object]:
    model, spec = load(name)
    bench = archinspect.benchmark(model, [spec], device="cpu", threads=1, peak=False, max_time=8.0)
    bench_ms = bench.rows[0].stats.median * 1e3
    r = profile(model, [spec], device="cpu", threads=1, repeats=repeats, name=name, max_time=8.0, clock=clock)
    rec = r.reconciliation
    sum_ms = rec.module_sum_s * 1e3
    plain_ms = rec.plain.median * 1e3
    pass_ms = rec.pass_sums.median * 1e3
    gap = (sum_ms - bench_ms) / bench_ms
    pass_gap = (pass_ms - plain_ms) / plain_ms
    left_ms = rec.overhead_s * 1e3 - rec.predicted_overhead_s * 1e3  # measured overhead the calibration missed
    if clock == "thread":  # CPU time against bench's wall time is no comparison: the plain forward's, in CPU time
        own_gap = sum_ms - plain_ms
        if abs(own_gap) <= TOLERANCE * plain_ms:
            status = "sum within 10 % of plain"
        elif 0 <= own_gap <= max(left_ms, 0) + TOLERANCE * plain_ms:
            status = f"explained: the instrumentation measurably added {left_ms:.1f} ms beyond what was removed"
        else:
            status = "NOT explained"
    elif abs(gap) <= TOLERANCE:
        status = "within 10 % of bench"
    elif abs(pass_gap) <= TOLERANCE:
        status = (
            f"explained: interruptions {-rec.interruption_s * 1e3:+.1f} ms, bench - plain {bench_ms - plain_ms:+.1f} ms"
        )
    else:
        status = "NOT explained"
    return {
        "model": name,
        "calls": rec.calls,
        "bench_ms": bench_ms,
        "bench_iqr": bench.rows[0].stats.rel_iqr,
        "plain_ms": plain_ms,
        "plain_iqr": rec.plain.rel_iqr,
        "pass_ms": pass_ms,
        "sum_ms": sum_ms,
        "gap": gap,
        "pass_gap": pass_gap,
        "hook_us": rec.hook_s * 1e6,
        "predicted_ms": rec.predicted_overhead_s * 1e3,
        "measured_ms": rec.overhead_s * 1e3,
        "status": status,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,resnet50,densenet121,mobilenet_v2")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--clock", default="wall", choices=("wall", "thread"), help="profile's CPU clock")
    args = ap.parse_args()
    print(
        f"torch {torch.__version__} · 1 thread · batch 1 · profile's clock: {args.clock} · "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    head = (
        f"{'model':<13}{'calls':>6}{'bench ms':>10}{'IQR':>5}{'sum ms':>9}{'vs bench':>9}{'plain ms':>10}{'IQR':>5}"
        f"{'pass ms':>9}{'vs plain':>9}{'µs/call':>8}{'pred ms':>8}{'meas ms':>8}  verdict"
    )
    print(head)
    print("-" * len(head))
    for name in args.models.split(","):
        d = row(name, args.repeats, args.clock)
        print(
            f"{d['model']:<13}{d['calls']:>6}{d['bench_ms']:>10.2f}{d['bench_iqr']:>5.0%}{d['sum_ms']:>9.2f}"
            f"{d['gap']:>+9.1%}{d['plain_ms']:>10.2f}{d['plain_iqr']:>5.0%}{d['pass_ms']:>9.2f}{d['pass_gap']:>+9.1%}"
            f"{d['hook_us']:>8.1f}{d['predicted_ms']:>8.2f}{d['measured_ms']:>+8.2f}  {d['status']}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(
        "bench = archinspect.benchmark's median (run just before); sum = the sum of every module's median own time "
        "(instrumentation removed), vs bench = (sum - bench) / bench; plain = the uninstrumented forward timed by "
        "profile between its instrumented passes; pass = the median over passes of the modules' own times summed, "
        "vs plain = (pass - plain) / plain; µs/call = instrumentation cost per module call (calibration module); "
        "pred = µs/call x calls below the root; meas = instrumented forward - plain forward (medians)."
    )


if __name__ == "__main__":
    main()
