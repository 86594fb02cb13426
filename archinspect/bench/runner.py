"""``archinspect.benchmark``: time one model's forward pass over a batch sweep, on CPU or CUDA.

For each batch size (and each variant: eager, ``torch.compile``d, CUDA-graph replay) it builds random
inputs, warms up, samples until the spread is small, and records every sample. FLOPs come from
``archinspect.inspect`` (the project's one counter); the matmul peak from :mod:`.peak`.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archinspect.bench import cuda
from archinspect.bench.env import collect_environment
from archinspect.bench.peak import make_timer, measure_matmul_peak
from archinspect.bench.policy import StopPolicy, WarmupPolicy
from archinspect.bench.result import OUT_OF_MEMORY, BenchResult, BenchRow, PeakResult
from archinspect.bench.timing import sample, warm_up
from archinspect.core.engine import estimate_pass, run_pass
from archinspect.core.guard import check_memory
from archinspect.core.inputs import InputSpec, as_specs
from archinspect.core.limits import check_bound
from archinspect.core.options import PassOptions
from archinspect.core.substitute import model_lock
from archinspect.core.target import Target, map_leaves
from archinspect.display import progress as show_progress
from archinspect.errors import UsageError, typed_errors

DTYPES = ("float32", "float16", "bfloat16")
EAGER, COMPILED, GRAPH = "eager", "compiled", "cuda-graph"


def resolve_bench_device(device: str | torch.device) -> torch.device:
    """``auto`` = CUDA when present, else CPU; ``meta`` or CUDA without CUDA is a :class:`UsageError`."""
    from archinspect.core.devices import auto_bench_device, resolve_device

    text = str(device).strip().lower()
    if text == "meta":
        raise UsageError(f"device={device!r} cannot be timed; accepted: auto, cpu, cuda, cuda:N", param="device")
    return torch.device(resolve_device(text, auto=auto_bench_device(), instead="cpu or auto"))


def check_dtype(name: str | torch.dtype) -> torch.dtype:
    text = str(name).removeprefix("torch.")
    text = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}.get(text, text)
    if text not in DTYPES:
        raise UsageError(f"dtype={str(name)!r} is not benchmarked; accepted: {', '.join(DTYPES)}", param="dtype")
    return getattr(torch, text)


def _name(dt: torch.dtype) -> str:
    return str(dt).removeprefix("torch.")


def count_batch_flops(target: Target) -> tuple[int | None, str | None]:
    """(FLOPs, None) of one forward call of ``target`` (2 × MACs, the shared counter on the meta device),
    or (None, why) when the counter cannot run the model: the timing still stands without it."""
    try:
        options = PassOptions.check(depth=0, per_module=False)
        return run_pass(target, options).totals.flops, None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class BenchOptions:
    """How to time: the knobs of ``archinspect bench`` (see :func:`benchmark` for each one's meaning)."""

    dtype: str | torch.dtype = "float32"
    amp: bool = False
    channels_last: bool = False
    compile: bool | str = False
    cuda_graph: bool = False
    warmup: int = 5
    warmup_time: float = 0.5
    iters: int = 10
    max_iters: int = 10_000
    min_time: float = 1.0
    max_time: float = 5.0
    target_rel_iqr: float = 0.05
    threads: int | None = None
    force: bool = False  # skip the memory check before loading and timing


@dataclass(frozen=True)
class BenchPlan:
    """:class:`BenchOptions` checked against a device, once: what every model of a run is timed with."""

    device: torch.device
    dtype: torch.dtype  # the cast of parameters and inputs; under amp what was asked (the weights stay float32)
    amp_dtype: torch.dtype | None  # autocast's dtype, or None without amp
    channels_last: bool
    compile_backend: str | None
    variants: tuple[str, ...]
    warm: WarmupPolicy
    stop: StopPolicy
    threads: int | None
    force: bool = False

    @classmethod
    def make(cls, device: str | torch.device = "auto", options: BenchOptions | None = None) -> BenchPlan:
        """Resolve and check everything; a bad value is a :class:`UsageError` before anything runs."""
        o = options or BenchOptions()
        dev = resolve_bench_device(device)
        dt = check_dtype(o.dtype)
        if o.cuda_graph and dev.type != "cuda":
            message = "cuda_graph=True needs a CUDA device (use device='cuda')"
            raise UsageError(message, param="cuda_graph", mentions=("device",))
        for name in ("threads", "warmup", "iters", "warmup_time", "min_time", "max_time"):
            check_bound(name, getattr(o, name))  # bounds a machine can honour (archinspect.core.limits)
        amp_dtype = None
        if o.amp:
            amp_dtype = dt if dt != torch.float32 else (torch.float16 if dev.type == "cuda" else torch.bfloat16)
        warm = WarmupPolicy(min_iters=o.warmup, min_time=o.warmup_time, max_time=max(o.warmup_time, 5.0))
        try:
            max_iters, max_time = max(o.iters, o.max_iters), max(o.min_time, o.max_time)
            stop = StopPolicy(o.iters, max_iters, o.min_time, max_time, o.target_rel_iqr)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        backend = (o.compile if isinstance(o.compile, str) else "inductor") if o.compile else None
        variants = (EAGER,) + ((COMPILED,) if backend else ()) + ((GRAPH,) if o.cuda_graph else ())
        return cls(dev, dt, amp_dtype, o.channels_last, backend, variants, warm, stop, o.threads, o.force)

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.amp_dtype or self.dtype

    def settings(self, batches: list[int]) -> dict[str, Any]:
        """The run's settings as the result reports them (JSON ``settings``)."""
        return {
            "batch_sizes": batches,
            "dtype": _name(self.dtype),
            "amp": self.amp_dtype is not None,
            "amp_dtype": _name(self.amp_dtype) if self.amp_dtype else None,
            "channels_last": self.channels_last,
            "variants": list(self.variants),
            "compile_backend": self.compile_backend,
            "warmup_iters": self.warm.min_iters,
            "warmup_time_s": self.warm.min_time,
            "min_iters": self.stop.min_iters,
            "max_iters": self.stop.max_iters,
            "min_time_s": self.stop.min_time,
            "max_time_s": self.stop.max_time,
            "target_rel_iqr": self.stop.target_rel_iqr,
            "threads": self.threads,  # as asked (None: torch's default); the environment has the count used
            "inference_mode": True,
        }

    def batch_target(self, target: Target, batch: int) -> Target:
        """The inputs at ``batch``, cast to the run's dtype unless autocast does it."""
        sized = target.with_batch(batch)
        return sized if self.amp_dtype else sized.with_dtype(_name(self.dtype))

    def make_args(self, specs: Sequence[InputSpec]) -> list[torch.Tensor]:
        """Random inputs on the device (NHWC for 4-D ones with ``channels_last``)."""
        args = [s.make(self.device) for s in specs]
        return [_channels_last(a) for a in args] if self.channels_last else args

    def autocast(self, cache_enabled: bool = True) -> Callable[[], Any]:
        """A factory of the run's autocast context (a null context without amp)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext
        dev, dt = self.device.type, self.amp_dtype
        return lambda: torch.autocast(dev, dtype=dt, cache_enabled=cache_enabled)

    def prepare(self, model: nn.Module, copy_model: bool) -> tuple[nn.Module, Any]:
        """The model to time (a deep copy unless told otherwise) on the device, and its compiled form."""
        if copy_model:
            with model_lock(model):  # never copy a model while a pass has its tensors swapped out
                m = copy.deepcopy(model)
        else:
            m = model
        m.eval()
        if self.amp_dtype:
            m.to(device=self.device)  # autocast casts per operator; the weights stay float32
        else:
            m.to(device=self.device, dtype=self.dtype)
        if self.channels_last:
            m.to(memory_format=torch.channels_last)
        compiled = torch.compile(m, backend=self.compile_backend) if self.compile_backend else None
        return m, compiled


def plan_inputs(
    caller: str, device: str | torch.device, options: dict[str, Any], inputs: Any, batch: int | None
) -> tuple[BenchPlan, list[InputSpec]]:
    """The checked plan of a one-model timing call (``profile``, the training step) and its inputs at ``batch``
    (default: their own), cast as the plan says; a bad value is a :class:`UsageError` before anything runs."""
    try:
        plan = BenchPlan.make(device, BenchOptions(**options))
    except TypeError as exc:
        raise UsageError(f"{caller}(): {exc}") from None
    specs = as_specs(inputs)
    if not specs:
        raise UsageError("no input given; pass at least one shape, e.g. (1, 3, 224, 224)")
    if batch is not None:
        if batch < 1:
            raise UsageError(f"batch={batch} must be 1 or more", param="batch")
        specs = [s.with_batch(batch) for s in specs]
    return plan, specs if plan.amp_dtype else [s.with_dtype(_name(plan.dtype)) for s in specs]


@typed_errors
def benchmark(
    model: nn.Module | Target,
    inputs: Any = None,
    *,
    kwargs: dict[str, Any] | None = None,
    device: str | torch.device = "auto",
    batch_sizes: Sequence[int] | None = None,
    peak: bool | PeakResult = True,
    name: str | None = None,
    copy_model: bool = True,
    on_row: Callable[[BenchRow], None] | None = None,
    plan: BenchPlan | None = None,
    progress: bool | None = None,
    **options: Any,
) -> BenchResult:
    """Time ``model``'s forward pass and return a :class:`BenchResult` (one row per batch × variant).

    - ``inputs``/``kwargs``: positional and keyword inputs as for :func:`archinspect.inspect` (only their
      shape and dtype are used; inputs are random, never zeros); ``model`` may be a
      :class:`~archinspect.core.target.Target` instead.
    - ``device``: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N``.
    - ``batch_sizes``: the sweep, replacing every input's first dimension (default: the inputs' own).
    - ``peak``: measure the matmul peak (``True``), skip it (``False``) or reuse a :class:`PeakResult`.
    - ``copy_model``: benchmark a deep copy so that the caller's model is never moved, cast or put in eval.
    - ``on_row``: called after each row (progress bars).
    - ``progress``: show the rows as they are timed (None: on a terminal or in a notebook, not when piped).
    - ``plan``: a :class:`BenchPlan` already made (a run over several models checks its options once);
      otherwise one is made from ``device`` and ``options``, the fields of :class:`BenchOptions`:

      ``dtype`` ``float32|float16|bfloat16``, a real cast of parameters and floating inputs; with ``amp``
      the model stays float32 and runs under ``torch.autocast`` in ``dtype`` (float32 means float16 on
      CUDA, bfloat16 on CPU). ``channels_last``: model and 4-D inputs in NHWC. ``compile``: also time
      ``torch.compile(model)`` (a string picks the backend); the first call's compile time is reported on
      its own, never in the samples. ``cuda_graph``: also time CUDA-graph replay. ``warmup`` calls and
      ``warmup_time`` seconds, both, before sampling (see :mod:`.policy`). ``iters``/``min_time``: sample
      at least this many calls and seconds, then stop once IQR/median is at most ``target_rel_iqr``, or at
      ``max_iters`` / ``max_time``. ``threads``: CPU threads for the run (restored afterwards). ``force``:
      time even when the largest batch is estimated not to fit in the device's free memory (otherwise a
      :class:`~archinspect.core.guard.ResourceError` before anything runs).

    An out-of-memory batch becomes a row with ``error == "out of memory"`` and the sweep goes on; other
    failures become rows with the error's text.
    """
    if plan is None:
        try:
            plan = BenchPlan.make(device, BenchOptions(**options))
        except TypeError as exc:
            raise UsageError(f"benchmark(): {exc}") from None
    target = Target.of(model, inputs, kwargs=kwargs, label=name)
    specs = [*target.specs, *target.keyword_specs.values()]
    if not specs:
        raise UsageError("no input given; pass at least one shape, e.g. (1, 3, 224, 224)")
    model = target.model
    batches = list(batch_sizes) if batch_sizes else [specs[0].shape[0] if specs[0].shape else 1]
    if any(b < 1 for b in batches):
        raise UsageError(f"batch_sizes={batches}: batch sizes must be 1 or more", param="batch_sizes")
    settings = plan.settings(batches)
    dev = plan.device
    with _threads(plan.threads), cuda.current_device(dev), cuda.cudnn_autotune(dev):
        env = collect_environment(dev)
        peak_result: PeakResult | None = None
        if peak is True:
            try:
                peak_result = measure_matmul_peak(dev, plan.compute_dtype)
            except Exception as exc:  # no peak means no "% peak" column, not no benchmark
                settings["peak_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                cuda.release_memory(dev)
        elif peak:
            peak_result = peak
        if not plan.force:
            _check_bench_memory(target, batches, plan, copy_model)
        m, compiled = plan.prepare(model, copy_model)
        rows: list[BenchRow] = []
        with show_progress(f"benchmark {target.label}", len(batches) * len(plan.variants), progress) as advance:
            for b in batches:
                batch_target = plan.batch_target(target, b)
                flops, flops_error = count_batch_flops(batch_target.with_model(m))
                for variant in plan.variants:
                    row = BenchRow(
                        model=target.label,
                        batch=b,
                        variant=variant,
                        dtype=_name(plan.compute_dtype),
                        amp=plan.amp_dtype is not None,
                        channels_last=plan.channels_last,
                        inputs=[str(s) for s in batch_target.specs]
                        + [f"{k}={s}" for k, s in batch_target.keyword_specs.items()],
                        flops=flops,
                        flops_error=flops_error,
                        peak_tflops=peak_result.tflops if peak_result else None,
                        min_samples=plan.stop.min_iters,
                    )
                    _run_row(row, compiled if variant == COMPILED else m, batch_target, plan, variant)
                    rows.append(row)
                    advance(f"batch {b} {variant}", 1)
                    if on_row is not None:
                        on_row(row)
    return BenchResult(env, peak_result, settings, rows)


def _check_bench_memory(target: Target, batches: list[int], plan: BenchPlan, copy_model: bool) -> None:
    """Refuse a sweep whose largest batch would not fit in the device's free memory (a copy's weights too)."""
    biggest = plan.batch_target(target, max(batches))
    options = PassOptions.check(dtype=None if plan.amp_dtype else plan.dtype)
    estimate = estimate_pass(biggest, options)
    copies = estimate.weights if copy_model else 0
    what = f"timing batch {max(batches)}"
    check_memory(estimate.total + copies, plan.device, what, estimate.parts())


def _run_row(row: BenchRow, fn: Any, target: Target, plan: BenchPlan, variant: str) -> None:
    """Fill ``row`` in place; an out-of-memory error or any other failure is recorded, not raised."""
    try:
        _time_row(row, fn, target, plan, variant)
    except torch.OutOfMemoryError:
        row.error = OUT_OF_MEMORY
        row.samples = []
        cuda.release_memory(plan.device)
    except Exception as exc:  # one bad batch or variant must not end the sweep
        row.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        row.samples = []


def _channels_last(t: Any) -> Any:
    return t.contiguous(memory_format=torch.channels_last) if isinstance(t, torch.Tensor) and t.dim() == 4 else t


def _time_row(row: BenchRow, fn: Any, target: Target, plan: BenchPlan, variant: str) -> None:
    dev = plan.device
    timer = make_timer(dev)
    with torch.inference_mode():
        args, kwargs = target.materialise(dev)
        if plan.channels_last:
            args = [map_leaves(a, _channels_last) for a in args]
            kwargs = {k: map_leaves(v, _channels_last) for k, v in kwargs.items()}
        # Autocast's weight-cast cache must be off under graph capture (CUDA semantics notes, "CUDA Graphs").
        autocast = plan.autocast(cache_enabled=variant != GRAPH)

        def forward() -> Any:
            with autocast():
                return fn(*args, **kwargs)

        if variant == COMPILED:
            t0 = time.perf_counter()
            forward()  # compiles for this input shape
            timer.sync()
            row.compile_time_s = time.perf_counter() - t0
        step: Callable[[], Any] = cuda.capture_graph(forward, dev) if variant == GRAPH else forward
        row.warmup_iters, row.warmup_time_s = warm_up(step, timer, plan.warm)
        # The peak is the steady state's: reset after warm-up, whose cuDNN autotuning allocates trial
        # workspaces; what stays allocated (weights, inputs, a graph's memory pool) is the reset's baseline.
        cuda.reset_peak_memory(dev)
        m = sample(step, timer, plan.stop)
        row.peak_memory_bytes = cuda.peak_memory(dev)
    row.samples = m.samples
    row.stopped_by = m.stopped_by
