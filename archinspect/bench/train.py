"""``profile --mode train``: one training step timed by phase, its throughput, and its measured peak memory
beside ``archinspect.memory``'s prediction for the same step.

The step, on a deep copy of the model in train mode: ``zero_grad(set_to_none=True)``, forward, loss
(cross-entropy against random class targets when the output is a ``[batch, classes]`` tensor, else the sum
of the outputs), ``backward``, optimizer step (the real ``torch.optim`` optimizer by name, as ``memory``
builds it). Each phase is bracketed by marks of the device clock (:mod:`.clock`: CUDA events on the stream,
``perf_counter_ns`` on CPU); the step waits for the device once at its end, as a training loop that reads
its loss would.

Peak memory, measured:

- CUDA: ``torch.cuda.max_memory_allocated`` over the sampled steps (reset after warm-up).
- CPU: one more step under ``torch.profiler``'s memory events (every allocation and free of the CPU
  allocator, kernels' internal buffers included): bytes alive before the step (parameters, buffers, inputs,
  optimizer state) + the highest running sum of the events (:func:`~archinspect.analyses.memory_check.peak_of_run`).

Options: ``amp`` (forward and loss under autocast; no gradient scaler), ``channels_last``, ``checkpoint``
(each top-level child with parameters recomputed in backward, ``torch.utils.checkpoint`` non-reentrant; the
memory prediction does not model recomputation and says so).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archinspect.bench import cuda
from archinspect.bench.clock import MarkClock, make_clock
from archinspect.bench.env import collect_environment
from archinspect.bench.policy import STABLE
from archinspect.bench.result import Environment
from archinspect.bench.runner import BenchPlan, _name, _threads, plan_inputs
from archinspect.bench.stats import SampleStats, summarize
from archinspect.core.substitute import model_lock
from archinspect.core.tensors import tensors
from archinspect.display import Advance, Displayable
from archinspect.display import progress as show_progress
from archinspect.errors import ModelRunError, typed_errors

PHASES = ("zero_grad", "forward", "loss", "backward", "optimizer")
SCHEMA = "archinspect.train_step/1"


@dataclass(repr=False)
class TrainStepReport(Displayable):
    """Seconds per phase and per step (every sample summarised), samples/s, and the peak measured and predicted."""

    model_name: str
    inputs: list[str]
    settings: dict[str, Any]
    environment: Environment
    phases: dict[str, SampleStats]
    step: SampleStats
    stopped_by: str
    loss: str
    measured_peak_bytes: int | None
    peak_method: str
    predicted_peak_bytes: int | None = None
    prediction_note: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def batch(self) -> int:
        return int(self.settings["batch"])

    @property
    def samples_per_s(self) -> float:
        return self.batch / self.step.median

    @property
    def phase_sum_s(self) -> float:
        return sum(s.median for s in self.phases.values())

    @property
    def peak_ratio(self) -> float | None:
        """measured / predicted peak."""
        if not self.measured_peak_bytes or not self.predicted_peak_bytes:
            return None
        return self.measured_peak_bytes / self.predicted_peak_bytes

    def to_dict(self) -> dict[str, Any]:
        def ms(s: SampleStats) -> dict[str, Any]:
            return {
                "median_ms": s.median * 1e3,
                "p10_ms": s.p10 * 1e3,
                "p90_ms": s.p90 * 1e3,
                "rel_iqr": s.rel_iqr,
                "n": s.n,
            }

        return {
            "schema": SCHEMA,
            "model": self.model_name,
            "inputs": self.inputs,
            "settings": self.settings,
            "environment": self.environment.to_dict(),
            "loss": self.loss,
            "phases": {k: ms(v) for k, v in self.phases.items()},
            "phase_sum_ms": self.phase_sum_s * 1e3,
            "step": ms(self.step),
            "stopped_by": self.stopped_by,
            "samples_per_s": {
                "median": self.samples_per_s,
                "p10": self.batch / self.step.p90,  # the slow steps give the low throughput
                "p90": self.batch / self.step.p10,
            },
            "measured_peak_bytes": self.measured_peak_bytes,
            "peak_method": self.peak_method,
            "predicted_peak_bytes": self.predicted_peak_bytes,
            "peak_ratio": self.peak_ratio,
            "prediction_note": self.prediction_note,
            "notes": self.notes,
        }


def _checkpointed(model: nn.Module) -> int:
    """Wrap each top-level child holding parameters in non-reentrant checkpointing (the model is a copy)."""
    from torch.utils.checkpoint import checkpoint

    n = 0
    for child in model.children():
        if any(True for _ in child.parameters()):
            child.forward = functools.partial(checkpoint, child.forward, use_reentrant=False)  # type: ignore[method-assign]
            n += 1
    return n


class _Step:
    """The training step on a prepared copy; :meth:`run` takes the phase marks."""

    def __init__(self, model: nn.Module, args: list[torch.Tensor], plan: BenchPlan, optimizer: str) -> None:
        from archinspect.analyses.train_step import check_optimizer, make_optimizer, prime_optimizer

        self.model, self.args, self.autocast = model, args, plan.autocast()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ModelRunError("the model has no trainable parameters: nothing to train")
        self.opt = make_optimizer(check_optimizer(optimizer), params, plan.device.type == "cuda")
        if self.opt is not None:
            prime_optimizer(self.opt, params)
        with self.autocast():
            out = model(*args)
        first = next(tensors(out), None)
        if first is None or not first.requires_grad:
            raise ModelRunError("the model's output does not require grad: nothing to train")
        self.classes = first.shape[1] if first.dim() == 2 and first.is_floating_point() else None
        self.target = None
        if self.classes:
            gen = torch.Generator(device=plan.device).manual_seed(0)
            self.target = torch.randint(0, self.classes, (first.shape[0],), device=plan.device, generator=gen)
        self.loss_name = "cross_entropy" if self.classes else "sum of outputs"
        del out, first
        if self.opt is None:
            model.zero_grad(set_to_none=True)

    def loss(self, out: Any) -> torch.Tensor:
        if self.target is not None:
            return nn.functional.cross_entropy(next(tensors(out)), self.target)
        outs = [t for t in tensors(out) if t.requires_grad]
        total = outs[0].sum()
        for t in outs[1:]:
            total = total + t.sum()
        return total

    def run(self, clock: MarkClock) -> list[Any]:
        marks = [clock.mark()]
        if self.opt is not None:
            self.opt.zero_grad(set_to_none=True)
        else:
            self.model.zero_grad(set_to_none=True)
        marks.append(clock.mark())
        with self.autocast():
            out = self.model(*self.args)
            marks.append(clock.mark())
            loss = self.loss(out)
        marks.append(clock.mark())
        loss.backward()
        marks.append(clock.mark())
        if self.opt is not None:
            self.opt.step()
        marks.append(clock.mark())
        return marks


def _sample(step: _Step, clock: MarkClock, plan: BenchPlan, advance: Advance) -> tuple[list[list[float]], str]:
    """Warm up, then sample steps until the step times are stable or a cap is reached (bench's policies);
    ``advance`` after each step (progress)."""
    t0, n = time.perf_counter(), 0
    while not plan.warm.done(n, time.perf_counter() - t0):
        step.run(clock)
        clock.settle()
        n += 1
        advance(f"warm-up step {n}")
    cuda.reset_peak_memory(plan.device)
    samples: list[list[float]] = []
    t0, reason = time.perf_counter(), None
    while reason is None:
        marks = step.run(clock)
        clock.settle()
        samples.append([clock.seconds(a, b) for a, b in zip(marks, marks[1:], strict=False)])
        advance(f"step {len(samples)} sampled")
        elapsed = time.perf_counter() - t0
        reason = plan.stop.capped(len(samples), elapsed)
        if reason is None and plan.stop.stable([sum(s) for s in samples], elapsed):
            reason = STABLE
    return samples, reason


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (the profiler's C++ start/stop lines and allocator warnings) for a block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _cpu_peak(step: _Step) -> int:
    from archinspect.analyses.memory_check import peak_of_run

    def run() -> None:
        step.run(make_clock(torch.device("cpu")))

    with _quiet_stderr():
        return peak_of_run(run, step.model, step.opt, step.args)


@typed_errors
def time_train_step(
    model: nn.Module,
    inputs: Any,
    *,
    device: str | torch.device = "auto",
    batch: int | None = None,
    optimizer: str = "sgd",
    checkpoint: bool = False,
    predict: bool = True,
    name: str | None = None,
    progress: bool | None = None,
    **options: Any,
) -> TrainStepReport:
    """Time a training step of a copy of ``model`` by phase and measure its peak memory.

    Args:
        model: the module (a deep copy trains; the model itself is left as it was).
        inputs: shapes, :class:`~archinspect.core.inputs.InputSpec` or tensors, batch first.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        batch: replaces every input's first dimension.
        optimizer: ``none``, ``sgd``, ``momentum``, ``adam``, ``adamw`` (as for ``archinspect.memory``).
        checkpoint: recompute each top-level child in backward (activation checkpointing).
        predict: also compute ``archinspect.memory``'s prediction for the same step.
        progress: show the steps as they are sampled (None: on a terminal or in a notebook, not when output
            is piped; False: never).
        options: :class:`~archinspect.bench.runner.BenchOptions` fields (``dtype``, ``amp``, ``channels_last``,
            ``threads``, ``warmup``, ``iters``, ``min_time``, ``max_time``, ``target_rel_iqr``).
    """
    plan, specs = plan_inputs("time_train_step", device, options, inputs, batch)
    dev = plan.device
    notes: list[str] = []
    with show_progress(f"training step {name or type(model).__name__}", None, progress) as advance:
        with _threads(plan.threads), cuda.current_device(dev), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            env = collect_environment(dev)
            with model_lock(model):
                m = copy.deepcopy(model)
            m.train()
            m.to(device=dev) if plan.amp_dtype else m.to(device=dev, dtype=plan.dtype)
            if plan.channels_last:
                m.to(memory_format=torch.channels_last)
            if checkpoint:
                notes.append(f"activation checkpointing on {_checkpointed(m)} top-level module(s)")
            step = _Step(m, plan.make_args(specs), plan, optimizer)
            clock = make_clock(dev)
            with cuda.cudnn_autotune(dev):
                samples, reason = _sample(step, clock, plan, advance)
            advance("measuring the peak memory", 0)
            measured = cuda.peak_memory(dev) if dev.type == "cuda" else _cpu_peak(step)
        phases = {p: summarize([s[i] for s in samples]) for i, p in enumerate(PHASES)}
        report = TrainStepReport(
            model_name=name or type(model).__name__,
            inputs=[str(s) for s in specs],
            settings={
                "device": str(dev),
                "dtype": _name(plan.dtype),
                "amp": plan.amp_dtype is not None,
                "amp_dtype": _name(plan.amp_dtype) if plan.amp_dtype else None,
                "channels_last": plan.channels_last,
                "checkpoint": checkpoint,
                "optimizer": optimizer,
                "threads": plan.threads,
                "batch": specs[0].shape[0] if specs[0].shape else 1,
            },
            environment=env,
            phases=phases,
            step=summarize([sum(s) for s in samples]),
            stopped_by=reason,
            loss=step.loss_name,
            measured_peak_bytes=measured,
            peak_method="torch.cuda.max_memory_allocated" if dev.type == "cuda" else "torch.profiler memory events",
            notes=notes,
        )
        if predict:
            advance("predicting the peak", 0)
            _predict(report, model, specs, plan, optimizer, checkpoint)
    return report


def _predict(
    report: TrainStepReport, model: nn.Module, specs: list, plan: BenchPlan, optimizer: str, checkpoint: bool
) -> None:
    """``archinspect.memory``'s peak for the same step, or why there is none."""
    from archinspect.analyses.memory import memory

    try:
        predicted = memory(
            model,
            [s.with_dtype("float32") if plan.amp_dtype else s for s in specs],
            mode="train",
            optimizer=optimizer,
            dtype=None if plan.amp_dtype else _name(plan.dtype),
            amp=plan.amp_dtype is not None,
            device=str(plan.device) if plan.device.type == "cuda" else "cpu",
        )
    except Exception as exc:  # no prediction is a note, not a failed measurement
        report.prediction_note = f"no prediction: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        return
    report.predicted_peak_bytes = predicted.peak_bytes
    caveats = []
    if checkpoint:
        caveats.append("the prediction does not model checkpointing (it is the step without it)")
    if report.loss == "cross_entropy":
        caveats.append(
            "predicted with loss = sum of outputs (memory's step); cross-entropy's extra is one logits-sized tensor"
        )
    report.prediction_note = "; ".join(caveats) or None
