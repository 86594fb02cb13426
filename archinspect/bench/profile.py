"""``archinspect.profile``: where the forward's time goes, module by module, judged against measured roofs.

One run, on a prepared copy of the model (the caller's is never moved, cast or hooked):

1. the ceilings of the device in the run's dtype (:mod:`.roofs`: matmul peak, copy bandwidth, fixed cost);
2. one counting pass: the project's operator counter gives each module call its FLOPs, and
   :class:`~.observers.TrafficCounter` the bytes its operators read and write;
3. the plain forward warmed up as ``bench`` warms it up;
4. the instrumentation's own cost per module call, measured on a calibration module that calls a tiny
   layer :data:`CALIBRATION_CALLS` times, with and without the timer;
5. ``warmup_passes`` + ``repeats`` rounds of one plain forward timed whole and one forward with only the
   :class:`~.observers.ModuleTimer` (no operator counter: its dispatch cost would be timed), alternating so
   that load drifting over the run reaches both alike. Per call, own time = inclusive − children's
   inclusive − children's calls × the cost per call; the median over the repeats.

The result reconciles the sum of the own times with the plain forward's median (the gap shown) and states the
instrumentation cost measured in two ways (step 4 × calls; instrumented − plain medians).
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from archinspect.bench import cuda
from archinspect.bench.clock import CLOCKS, MarkClock, make_clock
from archinspect.bench.env import collect_environment
from archinspect.bench.observers import ModuleTimer, TrafficCounter
from archinspect.bench.peak import make_timer
from archinspect.bench.profile_report import ModuleTime, ProfileReport, Reconciliation
from archinspect.bench.result import PeakResult
from archinspect.bench.roofs import TinyLayer, measure_ceilings
from archinspect.bench.runner import _name, _threads, plan_inputs
from archinspect.bench.stats import summarize
from archinspect.bench.timing import Timer, warm_up
from archinspect.core.engine import run_pass
from archinspect.core.options import PassOptions
from archinspect.core.report import LayerRecord, Report
from archinspect.core.target import Target
from archinspect.display import progress as show_progress
from archinspect.errors import ModelRunError, UsageError, typed_errors

CALIBRATION_CALLS = 100
DEFAULT_REPEATS = 20
DEFAULT_WARMUP = 3
PROFILE_STEPS = 4  # progress steps before the timed passes: roofs, counting pass, warm-up, instrumentation cost


class CallChain(nn.Module):
    """The calibration module: one tiny layer called ``n`` times in a row."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.tiny = TinyLayer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.n):
            x = self.tiny(x)
        return x


def _step(grad_mode: Callable[[], Any], autocast: Callable[[], Any]) -> Callable[[Callable[[], Any]], Any]:
    """How a pass runs the model: under ``grad_mode()`` and ``autocast()``."""

    def step(call_model: Callable[[], Any]) -> Any:
        with grad_mode(), autocast():
            return call_model()

    return step


def counted_pass(target: Target, device: torch.device, autocast: Callable[[], Any]) -> tuple[Report, TrafficCounter]:
    """The one counting pass: FLOPs per record from the counter, bytes per record from a :class:`TrafficCounter`.
    Under ``no_grad`` (inference mode would hide the decomposed operators from the counter)."""
    traffic = TrafficCounter()
    options = PassOptions.check(device=str(device), force=True)
    return run_pass(target, options, [traffic], step=_step(torch.no_grad, autocast)), traffic


def timed_pass(
    target: Target, device: torch.device, clock: MarkClock, autocast: Callable[[], Any]
) -> tuple[list[LayerRecord], dict[int, float]]:
    """One pass with module hooks only (no operator counter) and a :class:`ModuleTimer`, in inference mode:
    the records and each record's inclusive seconds."""
    timer = ModuleTimer(clock)
    options = PassOptions.check(device=str(device), force=True, count=False)
    report = run_pass(target, options, [timer], step=_step(torch.inference_mode, autocast))
    return report.records, timer.seconds


def interleaved_passes(
    target: Target,
    clock: MarkClock,
    device: torch.device,
    n: int,
    autocast: Callable[[], Any] = contextlib.nullcontext,
    plain_timer: Timer | None = None,
    each: Callable[[int], None] | None = None,
) -> tuple[list[float], list[LayerRecord], list[dict[int, float]]]:
    """``n`` rounds of one plain forward (timed whole, as ``bench`` times it, in inference mode) then one
    :func:`timed_pass`, alternating so that load drifting over time reaches both alike. Returns the plain
    seconds, the records of the last timed pass and each timed pass's inclusive seconds by record index.
    Every pass must make the same calls (a model whose calls vary is refused). ``plain_timer``: the whole
    forward's timer (default: ``bench``'s for the device). ``each(i)``: called after round ``i`` (progress)."""
    plain = plain_timer or make_timer(device)
    model, args = target.model, list(target.args)
    samples: list[float] = []
    records: list[LayerRecord] = []
    times: list[dict[int, float]] = []
    for i in range(n):
        with torch.inference_mode(), autocast():
            plain.start()
            model(*args)
            plain.stop()
        samples.extend(plain.collect())
        recs, seconds = timed_pass(target, device, clock, autocast)
        if records and [r.name for r in recs] != [r.name for r in records]:
            raise ModelRunError("the model made different module calls from one forward to the next; cannot profile")
        records = recs
        times.append(seconds)
        if each is not None:
            each(i)
    samples.extend(plain.finish())
    return samples, records, times


def own_seconds(records: Sequence[LayerRecord], inclusive: dict[int, float], hook_s: float) -> tuple[list, list]:
    """(own seconds with the children's instrumentation removed, own seconds as measured) per record; a record
    that did not run (parameters never called) has none."""
    raw = [inclusive.get(r.index, 0.0) - sum(inclusive.get(c, 0.0) for c in r.children) for r in records]
    ran = [sum(1 for c in r.children if c in inclusive) for r in records]
    return [max(0.0, t - k * hook_s) for t, k in zip(raw, ran, strict=True)], raw


def measure_hook_cost(
    device: torch.device, dtype: torch.dtype, clock: MarkClock, repeats: int = 40, plain_timer: Timer | None = None
) -> tuple[float, float]:
    """(seconds the timer's instrumentation adds per module call, seconds a tiny call's row shows).

    The first: the median over interleaved rounds (after 3 to warm up) of a :class:`CallChain`'s instrumented
    time minus its plain time in the same round, over its :data:`CALIBRATION_CALLS` calls (pairing the rounds
    keeps a load that changes during the run out of it). The second: the median time the timer gives each
    tiny layer's call inside those passes — the fixed cost as a profiled row measures it, marks and pass
    machinery between them included."""
    x = torch.ones(1, device=device, dtype=dtype)
    chain = Target.of(CallChain(CALIBRATION_CALLS), [x])
    plain, _, times = interleaved_passes(chain, clock, device, repeats + 3, plain_timer=plain_timer)
    diffs = [t[0] - p for t, p in zip(times[3:], plain[3:], strict=True)]
    tiny = statistics.median(v for t in times[3:] for i, v in t.items() if i > 0)
    return max(0.0, statistics.median(diffs) / CALIBRATION_CALLS), tiny


def _own_times(
    records: Sequence[LayerRecord], times: list[dict[int, float]], hook_s: float, plain: list[float], dev: torch.device
) -> tuple[list[tuple[list, list]], list[str]]:
    """Each timed pass's own times per record, the instrumentation cost removed — except on CUDA when the
    GPU hid it: with a full queue the host's hooks cost no device time, and removing them would take time
    from real kernels. Then the uncorrected times sum closer to the plain forward, and are kept."""
    per_pass = [own_seconds(records, t, hook_s) for t in times]
    if dev.type != "cuda" or hook_s == 0:
        return per_pass, []
    target = statistics.median(plain)
    corrected = abs(statistics.median(sum(p[0]) for p in per_pass) - target)
    raw = abs(statistics.median(sum(p[1]) for p in per_pass) - target)
    if raw >= corrected:
        return per_pass, []
    kept = [own_seconds(records, t, 0.0) for t in times]
    return kept, [
        f"the GPU hid the instrumentation ({hook_s * 1e6:.1f} µs per call on the host): times not corrected for it"
    ]


@typed_errors
def profile(
    model: nn.Module,
    inputs: Any,
    *,
    device: str | torch.device = "auto",
    batch: int | None = None,
    depth: int = 2,
    repeats: int = DEFAULT_REPEATS,
    warmup_passes: int = DEFAULT_WARMUP,
    name: str | None = None,
    peak: PeakResult | None = None,
    clock: str = "wall",
    progress: bool | None = None,
    **options: Any,
) -> ProfileReport:
    """Time every module call of ``model``'s forward and judge each against the device's measured roofs.

    Args:
        model: the module (a deep copy is timed; the model itself is left as it was).
        inputs: shapes, :class:`~archinspect.core.inputs.InputSpec` or tensors, batch first.
        device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N``.
        batch: replaces every input's first dimension (default: the inputs' own).
        depth: the depth the report's rows fold to (the JSON keeps every record).
        repeats: timed instrumented passes (the median per module is reported); ``warmup_passes`` before them.
        peak: a matmul peak already measured in this run (otherwise measured).
        clock: on CPU, ``wall`` (``perf_counter_ns``) or ``thread`` (the thread's CPU time: immune to other
            processes taking the core; needs ``threads=1``). CUDA always times with events.
        options: :class:`~archinspect.bench.runner.BenchOptions` fields: ``dtype``, ``amp``, ``channels_last``,
            ``threads``, and the plain forward's warm-up (``warmup`` calls, ``warmup_time`` seconds).

    Returns:
        A :class:`~archinspect.bench.profile_report.ProfileReport`.

    Example:
        >>> report = profile(model, (1, 3, 224, 224), device="cpu", threads=1)  # doctest: +SKIP
        >>> print(report.reconciliation.gap_fraction)  # doctest: +SKIP
    """
    if repeats < 1 or warmup_passes < 0:
        raise UsageError(f"repeats={repeats}, warmup_passes={warmup_passes}: need repeats >= 1 and warm-up >= 0")
    if depth < 0:
        raise UsageError(f"depth={depth} must be 0 or more", param="depth")
    plan, specs = plan_inputs("profile", device, options, inputs, batch)
    if clock not in CLOCKS:
        raise UsageError(f"clock={clock!r} is not a clock; accepted: {', '.join(CLOCKS)}", param="clock")
    if clock == "thread" and plan.device.type == "cpu" and plan.threads != 1:
        raise UsageError(
            "clock='thread' times one thread's CPU time: use it with threads=1", param="clock", mentions=("threads",)
        )
    dev = plan.device
    label = name or type(model).__name__
    steps = PROFILE_STEPS + warmup_passes + repeats
    with (
        _threads(plan.threads),
        cuda.current_device(dev),
        cuda.cudnn_autotune(dev),
        show_progress(f"profile {label}", steps, progress) as advance,
    ):
        advance("measuring the device's roofs", 0)  # each description says what runs now
        env = collect_environment(dev)
        ceilings = measure_ceilings(dev, plan.compute_dtype, peak, clock)
        advance("counting FLOPs and bytes", 1)
        m, _ = plan.prepare(model, copy_model=True)
        args = plan.make_args(specs)
        autocast = plan.autocast()
        target = Target.of(m, args, label=label)
        counted, traffic = counted_pass(target, dev, autocast)
        advance("warming up", 1)
        marks = make_clock(dev, clock)

        def forward() -> Any:
            with torch.inference_mode(), autocast():
                return m(*args)

        def whole() -> Timer:
            return make_timer(dev, clock)

        warm_up(forward, whole(), plan.warm)
        advance("measuring the instrumentation's cost", 1)
        hook_s, tiny_s = measure_hook_cost(dev, plan.compute_dtype, marks, plain_timer=whole())
        ceilings = dataclasses.replace(ceilings, call_in_pass_s=tiny_s)
        advance("timing each module", 1)

        def timed(i: int) -> None:
            done = i + 1 - warmup_passes
            advance(f"timing each module: {done}/{repeats} passes" if done > 0 else "timing each module", 1)

        plain, records, times = interleaved_passes(
            target, marks, dev, warmup_passes + repeats, autocast, whole(), each=timed
        )
    times, plain = times[warmup_passes:], plain[warmup_passes:]
    if [r.name for r in records] != [r.name for r in counted.records]:
        raise ModelRunError("the counting pass and the timed passes made different module calls; cannot profile")
    per_pass, notes = _own_times(records, times, hook_s, plain, dev)
    table = [
        ModuleTime(
            r.index,
            r.name,
            r.type,
            r.depth,
            r.parent,
            r.call,
            list(r.children),
            self_s=statistics.median(p[0][r.index] for p in per_pass),
            raw_self_s=statistics.median(p[1][r.index] for p in per_pass),
            macs=c.macs,
            other_ops=c.other_ops,
            bytes_read=traffic.of(c.index).read,
            bytes_written=traffic.of(c.index).written,
            ran=r.ran,
            ops=traffic.of(c.index).ops,
        )
        for r, c in zip(records, counted.records, strict=True)
    ]
    recon = Reconciliation(
        plain=summarize(plain),
        instrumented=summarize([t[0] for t in times]),
        module_sum_s=sum(r.self_s for r in table),
        pass_sums=summarize([sum(p[0]) for p in per_pass]),
        hook_s=hook_s,
        calls=sum(1 for r in records if r.ran),
    )
    notes = list(counted.notes) + notes
    if traffic.outside.ops:
        notes.append(f"{traffic.outside.ops} operator(s) ran outside every module: not in any row")
    settings = {
        "device": str(dev),
        "dtype": _name(plan.dtype),
        "compute_dtype": _name(plan.compute_dtype),
        "amp": plan.amp_dtype is not None,
        "channels_last": plan.channels_last,
        "threads": plan.threads,
        "batch": specs[0].shape[0] if specs[0].shape else 1,
        "repeats": repeats,
        "warmup_passes": warmup_passes,
        "timer": "cuda events on the stream, one synchronise per pass"
        if dev.type == "cuda"
        else ("thread_time_ns (CPU time of the thread)" if clock == "thread" else "perf_counter_ns"),
    }
    return ProfileReport(
        model_name=label,
        inputs=[str(s) for s in specs],
        settings=settings,
        environment=env,
        ceilings=ceilings,
        records=table,
        reconciliation=recon,
        depth=depth,
        notes=notes,
    )
