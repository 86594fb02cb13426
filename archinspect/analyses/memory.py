"""Peak memory of inference and of one training step, per module, computed without allocating.

The model runs once on fake tensors (torch's ``FakeTensorMode``: shapes, dtypes and devices
without data) under a :class:`~archinspect.core.memtrack.StorageTracker` that counts every storage an
operator creates and releases. Definitions (docs/memory.md says them in full):

- **peak** = the maximum, over the run, of the bytes of all tensor storages alive at once: parameters,
  buffers, inputs, gradients, optimizer state, activations and temporaries. A view costs nothing; a storage
  shared by several tensors counts once.
- **eval**: one forward under ``torch.no_grad()``.
- **train**: one steady-state step — ``out = model(x); loss = sum of out; loss.backward(); opt.step();
  opt.zero_grad(set_to_none=True)`` with the optimizer state already allocated by an earlier step
  (momentum buffers, Adam's two moments); gradients do not exist before the backward (torch's default
  ``zero_grad(set_to_none=True)`` freed them) and are allocated as it accumulates them.

The step runs on the one pass every analysis uses (:func:`archinspect.core.engine.run_pass`): the
:class:`MemoryObserver` watches it, and the pass's substitutes stand in for the model's tensors (meta, or
fake tensors of the modelled device), so the user's model is never modified and its tensors never copied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archinspect.analyses.memory_report import PHASES, BatchFit, MemoryReport, ModuleMemory
from archinspect.analyses.train_step import (
    OPTIMIZERS,
    STATEFUL,
    TrainingStep,
    check_optimizer,
    make_optimizer,
    optimizer_tensors,
    prime_optimizer,
)
from archinspect.core.compat import fake_tensor_mode
from archinspect.core.devices import resolve_device
from archinspect.core.engine import run_pass
from archinspect.core.memtrack import CUDA_BLOCK, KINDS, StorageInfo, StorageTracker
from archinspect.core.observe import PassObserver
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.core.tensors import nbytes, tensors
from archinspect.display import progress as show_progress
from archinspect.errors import ModelRunError, UsageError, typed_errors


@dataclass(frozen=True)
class _Setup:
    """What memory models, beside the pass's options: the optimizer, autocast, the allocator, foreach."""

    optimizer: str | None
    amp: bool
    device: torch.device  # the device modelled (fake tensors carry it)
    label: str  # the device as resolved: meta, cpu, cuda:N
    block: int
    foreach: bool

    @property
    def modelled(self) -> str:
        return self.device.type


def _setup(options: PassOptions, optimizer: str, amp: bool, foreach: bool | None) -> _Setup:
    opt = check_optimizer(optimizer) if options.mode == "train" else None
    resolved = resolve_device(options.device, auto="meta")
    on_cuda = resolved.startswith("cuda")
    modelled = torch.device(resolved if on_cuda else "cpu")
    block = CUDA_BLOCK if on_cuda else 1
    return _Setup(opt, amp, modelled, resolved, block, on_cuda if foreach is None else foreach)


@typed_errors
def memory(
    model: nn.Module | Target,
    inputs: Any = None,
    *,
    kwargs: dict[str, Any] | None = None,
    model_name: str | None = None,
    cpu_model: Callable[[], nn.Module] | None = None,
    optimizer: str = "sgd",
    amp: bool = False,
    foreach: bool | None = None,
    options: PassOptions | None = None,
    progress: bool | None = None,
    **pass_options: Any,
) -> MemoryReport:
    """Peak memory of one forward (``mode="eval"``) or one training step (``"train"``), in bytes.

    Args:
        model, inputs, kwargs, model_name, cpu_model: as for :func:`archinspect.inspect` (batch first;
            keyword inputs count like positional ones).
        optimizer: one of :data:`OPTIMIZERS` (train only).
        amp: the forward under ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU).
        foreach: override the optimizer's ``foreach`` flag.
        options: a :class:`~archinspect.core.options.PassOptions`, or the pass options as keywords: ``mode``,
            ``dtype`` (cast floating parameters and inputs), ``device`` — the device *modelled*: ``auto``/
            ``meta``/``cpu`` model a plain allocator (exact tensor bytes), ``cuda[:N]`` the CUDA caching
            allocator's 512-byte rounding and torch's CUDA optimizer default (``foreach=True``).
        progress: show the step's phase (forward, backward, optimizer) while it runs, once it has taken about a
            second (None: on a terminal or in a notebook, not when output is piped; False: never).

    Nothing is allocated: the step runs on the same pass as every analysis (lazy modules, TorchScript parts,
    wrappers handled alike) on meta tensors, or on fake ones (``FakeTensorMode``) with ``amp`` or attention;
    a model meta cannot run (a data-dependent operator) falls back to CPU by the pass's one rule, guarded by
    the memory check.
    """
    target = Target.of(model, inputs, kwargs=kwargs, label=model_name, cpu_model=cpu_model)
    opts = PassOptions.of(options, pass_options)
    return memory_target(target, opts, optimizer=optimizer, amp=amp, foreach=foreach, progress=progress)


def memory_target(
    target: Target,
    options: PassOptions,
    *,
    optimizer: str = "sgd",
    amp: bool = False,
    foreach: bool | None = None,
    progress: bool | None = False,
) -> MemoryReport:
    """:func:`memory` for a target and options already checked (``progress``: as for :func:`memory`; off by
    default here, where the budget search calls it inside its own progress)."""
    with show_progress(f"memory {target.label}", None, progress) as advance:
        return _memory_target(target, options, _setup(options, optimizer, amp, foreach), advance)


def _memory_target(
    target: Target, options: PassOptions, setup: _Setup, on_phase: Callable[[str, int], None]
) -> MemoryReport:
    notes: list[str] = []
    # Attention picks its kernel by device (flash / memory-efficient / math): on meta it would take the math
    # path, which materialises the attention matrix; fake tensors of the modelled device take the real one.
    attention = any(isinstance(m, nn.MultiheadAttention) for m in target.model.modules())
    if attention and not setup.amp:
        notes.append(f"attention picks its kernel by device: computed on fake {setup.device.type} tensors")
    tracker = MemoryObserver(setup, options.mode, use_fake=setup.amp or attention, on_phase=on_phase)
    # The pass itself runs where the tensors are modelled: meta (or fake tensors of the modelled device); the
    # one fallback rule takes it to CPU when meta cannot run the model. Operators are not counted here.
    run_options = options.but(device=setup.modelled if tracker.use_fake else "auto", count=False, receptive=False)
    try:
        report = run_pass(target, run_options, [tracker], step=tracker.step, fake=tracker.fake)
    except (UsageError, ModelRunError):
        raise
    except Exception as exc:
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        inputs = ", ".join(map(str, target.specs))
        raise ModelRunError(f"{target.label} cannot run on input {inputs}: {first}") from exc
    result = tracker.report(target, options)
    result.notes.extend([*notes, *report.notes])
    return result


class MemoryObserver(PassObserver):
    """The memory tracker as an observer of the pass: module records for the forward, every storage's
    lifetime (a :class:`~archinspect.core.memtrack.StorageTracker`), and the step it runs (inference or one
    training step with its optimizer)."""

    def __init__(
        self, setup: _Setup, mode: str, use_fake: bool, on_phase: Callable[[str, int], None] | None = None
    ) -> None:
        self.setup, self.mode, self.use_fake, self.told = setup, mode, use_fake, on_phase
        if use_fake:
            self.fake: Any = fake_tensor_mode()(allow_non_fake_inputs=True)
        else:
            self.fake = None
        self.records: list[ModuleMemory] = []
        self.stack: list[int] = []
        self.baseline = 0
        self.tracker: StorageTracker | None = None
        self.run: Any = None
        self.opt: Any = None
        self.kept: dict[Any, Any] = {}

    # -- the pass's hooks --------------------------------------------------------------------------------
    def skipped(self, model: nn.Module) -> set[Any]:
        """In eval, ``nn.TransformerEncoderLayer`` takes torch's fused inference kernel only when no hook is
        attached to it or below it, and a real run takes that kernel; its memory then counts to the module
        that called it (the kernel's internal workspaces are not counted)."""
        if self.mode != "eval":
            return set()
        layers = [m for m in model.modules() if isinstance(m, nn.TransformerEncoderLayer)]
        return {sub for layer in layers for sub in layer.modules()}

    def start(self, run: Any) -> None:
        """A fresh tracker (a fallback reruns the pass), the optimizer primed, the baseline tracked."""
        self.run, self.records, self.stack = run, [], []
        # Modelling a CPU run, the optimizer's (real) CPU step counters count too.
        kinds = tuple({run.device.type, self.setup.device.type})
        tracker = self.tracker = StorageTracker(kinds, self.setup.block, on_alloc=self._on_alloc)
        train = self.mode == "train"
        trainable = [p for p in run.parameters if p.requires_grad] if train else []
        self.opt = None
        if train and self.setup.optimizer not in (None, "none") and trainable:
            self.opt = make_optimizer(self.setup.optimizer, trainable, self.setup.foreach)
            prime_optimizer(self.opt, trainable, self.fake)
        # A TorchScript part keeps its own tensors (the pass cannot swap them): they count all the same, and the
        # gradients the step leaves on them are taken off again afterwards (the user's model is never changed).
        self.kept = {p: p.grad for p in run.kept_parameters}
        tracker.track_all([*run.parameters, *run.kept_parameters], "params")
        tracker.track_all([*run.buffers, *run.kept_buffers], "buffers")
        tracker.track_all(tensors([run.args, run.kwargs]), "inputs")
        tracker.track_all(optimizer_tensors(self.opt), "optimizer_state")
        self.baseline = tracker.live

    def enter(self, call: Any) -> None:
        tracker = self.tracker
        if tracker is None or tracker.phase != "forward":
            return  # a checkpointed region recomputed during backward
        parent = self.stack[-1] if self.stack else None
        rec = ModuleMemory(
            len(self.records), call.name, call.record.type, len(self.stack), parent, call.record.call
        )
        self.records.append(rec)
        if parent is not None:
            self.records[parent].children.append(rec.index)
        self.stack.append(rec.index)
        tracker.owner = rec.index

    def leave(self, call: Any, output: Any) -> None:
        tracker = self.tracker
        if tracker is None or tracker.phase != "forward" or not self.stack:
            return
        rec = self.records[self.stack.pop()]
        rec.output_bytes = nbytes(output)
        tracker.owner = self.stack[-1] if self.stack else None

    def _on_alloc(self, info: StorageInfo) -> None:
        if self.tracker is not None and self.tracker.phase == "forward":
            for i in self.stack:
                self.records[i].allocated_bytes += info.nbytes

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        info = self.tracker.info_of(t) if self.tracker is not None else None
        if info is not None and info.kind == "other_activations" and not info.saved:
            info.saved = True
            for i in self.stack:
                self.records[i].saved_bytes += info.nbytes
        return t

    # -- the step ----------------------------------------------------------------------------------------
    def step(self, forward: Callable[[], Any]) -> None:
        """The measured step (the pass's ``step``): inference, or one training step by phases."""
        step = TrainingStep(
            forward, self.opt, on_phase=self._on_phase, amp=self._autocast, pack=self._pack, context=self._context
        )
        try:
            step.infer() if self.mode == "eval" else step.train()
        finally:
            for p, grad in self.kept.items():
                p.grad = grad
        if self.mode == "train":  # gradients are what the parameters hold after the backward
            assert self.tracker is not None
            for p in self.run.parameters:
                info = self.tracker.info_of(p.grad) if p.grad is not None else None
                if info is not None:
                    info.kind = "grads"

    def _autocast(self) -> Any:
        if not self.setup.amp:
            return contextlib.nullcontext()
        dev = self.setup.device.type
        return torch.autocast(dev, dtype=torch.float16 if dev == "cuda" else torch.bfloat16)

    def _context(self, phase: str) -> Any:
        """Forward and backward run in the fake mode under the tracker; the optimizer step runs under the
        tracker alone: Adam reads its (real, CPU) step counter with ``.item()``, and fake parameters still
        dispatch through their own fake mode."""
        stack = contextlib.ExitStack()
        if phase != "optimizer" and self.fake is not None:
            stack.enter_context(self.fake)
        assert self.tracker is not None
        stack.enter_context(self.tracker)
        return stack

    def _on_phase(self, phase: str) -> None:
        assert self.tracker is not None
        if self.told is not None:
            self.told(phase, 0)
        kind = "other_activations" if phase == "forward" else "temporaries"
        self.tracker.set_phase(phase, kind)
        if phase != "forward":
            self.tracker.owner = None

    # -- the result --------------------------------------------------------------------------------------
    def report(self, target: Target, options: PassOptions) -> MemoryReport:
        t = self.tracker
        assert t is not None
        for info in t.alive_at_peak():
            i = info.owner
            while i is not None:
                self.records[i].held_at_peak_bytes += info.nbytes
                i = self.records[i].parent
        saved = sum(i.nbytes for i in t.all if i.saved)
        return MemoryReport(
            model_name=target.label,
            inputs=target.specs,
            mode=options.mode,
            optimizer=self.setup.optimizer,
            dtype=options.dtype_name or "float32",
            amp=self.setup.amp,
            device=self.setup.label,
            peak_bytes=t.peak,
            peak_phase=t.peak_phase,
            breakdown=t.breakdown(),
            phase_peaks={p: t.phase_peaks[p] for p in PHASES if p in t.phase_peaks},
            baseline_bytes=self.baseline,
            saved_bytes=saved,
            records=self.records,
            block_bytes=self.setup.block,
            foreach=self.setup.foreach,
            keyword_inputs=target.keyword_specs,
        )


__all__ = [
    "KINDS",
    "OPTIMIZERS",
    "STATEFUL",
    "BatchFit",
    "MemoryReport",
    "ModuleMemory",
    "check_optimizer",
    "memory",
]
