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
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

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
from archinspect.core.inputs import InputSpec
from archinspect.core.memtrack import CUDA_BLOCK, KINDS, StorageInfo, StorageTracker
from archinspect.core.observe import PassObserver
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.core.tensors import nbytes, tensors
from archinspect.display import Displayable
from archinspect.display import progress as show_progress
from archinspect.errors import ModelRunError, UsageError, typed_errors
from archinspect.text import fmt_bytes

PHASES = ("forward", "backward", "optimizer")


@dataclass
class ModuleMemory:
    """One module call's memory during the forward; every figure includes its submodules, in bytes.

    ``allocated_bytes``: storages created while it ran. ``saved_bytes``: activations autograd saved for
    backward while it ran (each storage counted once, by the module that first saved it). ``held_at_peak_bytes``:
    storages it created that were still alive at the step's peak. ``output_bytes``: its output tensors.
    """

    index: int
    name: str
    type: str
    depth: int
    parent: int | None
    call: int = 1
    allocated_bytes: int = 0
    saved_bytes: int = 0
    held_at_peak_bytes: int = 0
    output_bytes: int = 0
    children: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.type


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class MemoryReport(Displayable):
    """Peak memory of one inference (``mode="eval"``) or training step (``"train"``), bytes throughout.

    ``breakdown``: what was alive at the peak, by kind (:data:`~archinspect.core.memtrack.KINDS`; sums to
    ``peak_bytes``). ``phase_peaks``: the highest live total in each phase. ``baseline_bytes``: alive before
    the forward (parameters, buffers, inputs, optimizer state). ``saved_bytes``: all activations autograd
    saved for backward. ``block_bytes``: allocation rounding modelled (1 = none, 512 = CUDA caching allocator).
    """

    model_name: str
    inputs: list[InputSpec]
    mode: str
    optimizer: str | None
    dtype: str
    amp: bool
    device: str
    peak_bytes: int
    peak_phase: str
    breakdown: dict[str, int]
    phase_peaks: dict[str, int]
    baseline_bytes: int
    saved_bytes: int
    records: list[ModuleMemory]
    block_bytes: int = 1
    foreach: bool = False
    notes: list[str] = field(default_factory=list)
    keyword_inputs: dict[str, InputSpec] = field(default_factory=dict)  # inputs passed by name

    @property
    def batch_size(self) -> int:
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else 1

    def rows(self, depth: int) -> list[ModuleMemory]:
        """Module calls at ``depth`` or shallower (figures are inclusive, so nothing needs folding)."""
        return [r for r in self.records if r.depth <= depth]

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        rows = self.records if depth is None else self.rows(depth)
        d = asdict(self)
        d["inputs"] = [str(s) for s in self.inputs]
        d["keyword_inputs"] = {k: str(s) for k, s in self.keyword_inputs.items()}
        d["batch_size"] = self.batch_size
        d["records"] = [asdict(r) for r in rows]
        return d


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class BatchFit(Displayable):
    """The largest batch whose peak fits ``budget_bytes``: ``peak_bytes <= budget_bytes < next_peak_bytes``.

    ``next_batch``/``next_peak_bytes`` are None when ``max_batch`` itself fits. ``probes``: every
    (batch, peak bytes) computed by the search, in order.
    """

    batch: int
    peak_bytes: int
    next_batch: int | None
    next_peak_bytes: int | None
    budget_bytes: int
    probes: list[tuple[int, int]]
    report: MemoryReport | None = None  # the full report at ``batch``

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "report"}
        d["probes"] = [list(p) for p in self.probes]
        return d


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


def budget_batches(
    peak_of: Callable[[int], int],
    budget: int,
    max_batch: int,
    *,
    fixed_of: Callable[[int], int] | None = None,
) -> tuple[int, int, int | None, int | None, list[tuple[int, int]]]:
    """Search the largest batch b with ``peak_of(b) <= budget`` (peak assumed non-decreasing in b).

    The peak is nearly affine in the batch, ``fixed + per_sample × b``, so the search starts from that line
    and then only verifies: batch 1 is probed; ``fixed_of(1)`` (what batch 1's peak holds that does not grow
    with the batch: parameters, buffers, gradients, optimizer state) gives the line from that one probe (without
    it batch 2 is probed too); then the batch the line predicts; then secant steps through the two probes
    nearest the budget (a predicted batch already probed is proven by probing the next one), alternating with
    bisection from the third step, until ``peak(b) <= budget < peak(b + 1)`` is proven. On an affine peak that
    is 3 probes. Returns (batch, peak, next batch, its peak, probes).
    Raises ModelRunError when batch 1 does not fit.
    """
    probes: dict[int, int] = {}

    def probe(b: int) -> int:
        if b not in probes:
            probes[b] = peak_of(b)
        return probes[b]

    if probe(1) > budget:
        raise ModelRunError(f"even batch 1 needs {probes[1]:,} bytes, more than the budget of {budget:,} bytes")
    step = 0
    while True:
        lo, hi = _bracket(probes, budget)
        if lo >= max_batch or (hi is not None and hi - lo <= 1):
            break
        if step == 0:
            candidate = _affine_guess(probe, fixed_of, budget, max_batch)
        elif step >= 3 and step % 2 == 1 and hi is not None:  # bisect every other step from the third: bounded
            candidate = (lo + hi) // 2
        else:
            candidate = _secant(probes, lo, hi, budget)
        probe(min(max(candidate, lo + 1), max_batch if hi is None else hi - 1))
        step += 1
    return lo, probes[lo], hi, (probes[hi] if hi is not None else None), list(probes.items())


def _bracket(probes: dict[int, int], budget: int) -> tuple[int, int | None]:
    """(the largest batch probed that fits, the smallest probed that does not, or None)."""
    above = [b for b, p in probes.items() if p > budget]
    return max(b for b, p in probes.items() if p <= budget), (min(above) if above else None)


def _affine_guess(
    probe: Callable[[int], int], fixed_of: Callable[[int], int] | None, budget: int, max_batch: int
) -> int:
    """The batch the line ``fixed + per_sample × b`` through batch 1 reaches the budget at: the fixed part from
    ``fixed_of(1)`` when it is usable, else from batch 2's probe."""
    peak1 = probe(1)
    fixed = fixed_of(1) if fixed_of is not None else None
    if fixed is None or not 0 <= fixed < peak1:
        fixed = peak1 - (probe(2) - peak1) if max_batch > 1 else peak1
    per_sample = peak1 - fixed
    return max_batch if per_sample <= 0 else int((budget - fixed) // per_sample)


def _secant(probes: dict[int, int], lo: int, hi: int | None, budget: int) -> int:
    """The batch a line through the two probes nearest the budget (``lo`` and ``hi``, or the probe below
    ``lo``) reaches it at; twice ``lo`` when that line does not rise."""
    other = hi if hi is not None else max(b for b in probes if b < lo)
    slope = (probes[other] - probes[lo]) / (other - lo)
    return lo + int((budget - probes[lo]) // slope) if slope > 0 else 2 * lo


@typed_errors
def largest_batch(
    model: nn.Module | Target,
    inputs: Any = None,
    budget_bytes: int = 0,
    *,
    kwargs: dict[str, Any] | None = None,
    model_name: str | None = None,
    cpu_model: Callable[[], nn.Module] | None = None,
    optimizer: str = "sgd",
    amp: bool = False,
    foreach: bool | None = None,
    max_batch: int = 1 << 20,
    options: PassOptions | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
    **pass_options: Any,
) -> BatchFit:
    """The largest batch size whose peak (:func:`memory`) is at most ``budget_bytes``: every input's first
    dimension is set to the batch. Exact: ``peak(batch) <= budget_bytes < peak(batch + 1)``. ``progress``:
    a callable is called with (batch, peak bytes) after each batch size is computed (:func:`budget_batches`:
    about 3); otherwise whether to show the search's progress (None: on a terminal or in a notebook, not
    when piped; False: never).

    Arguments as for :func:`memory`. Raises ModelRunError when batch 1 already exceeds the budget,
    UsageError for a budget <= 0.
    """
    target = Target.of(model, inputs, kwargs=kwargs, label=model_name, cpu_model=cpu_model)
    opts = PassOptions.of(options, pass_options)
    return largest_batch_target(
        target, budget_bytes, opts, optimizer=optimizer, amp=amp, foreach=foreach, max_batch=max_batch,
        progress=progress,
    )


def largest_batch_target(
    target: Target,
    budget_bytes: int,
    options: PassOptions,
    *,
    optimizer: str = "sgd",
    amp: bool = False,
    foreach: bool | None = None,
    max_batch: int = 1 << 20,
    progress: bool | Callable[[int, int], None] | None = None,
) -> BatchFit:
    """:func:`largest_batch` for a target and options already checked."""
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int) or budget_bytes <= 0:
        raise UsageError(f"budget_bytes={budget_bytes!r} must be more than 0 bytes", param="budget_bytes")
    reports: dict[int, MemoryReport] = {}

    def peak_of(b: int) -> int:
        advance(f"batch {b}", 0)
        reports[b] = memory_target(target.with_batch(b), options, optimizer=optimizer, amp=amp, foreach=foreach)
        advance(f"batch {b} needs {fmt_bytes(reports[b].peak_bytes)}", 1)
        if callable(progress):
            progress(b, reports[b].peak_bytes)
        return reports[b].peak_bytes

    def fixed_of(b: int) -> int:  # what does not grow with the batch, alive at batch b's peak
        kept = reports[b].breakdown
        return sum(kept.get(k, 0) for k in ("params", "buffers", "grads", "optimizer_state"))

    try:
        shown = False if callable(progress) else progress  # a caller's callback shows it its own way
        with show_progress(f"largest batch within {fmt_bytes(budget_bytes)}", None, shown) as advance:
            batch, peak, nxt, nxt_peak, probes = budget_batches(
                peak_of, budget_bytes, max_batch, fixed_of=fixed_of
            )
    except ModelRunError as exc:
        if 1 in reports:
            raise ModelRunError(
                f"{target.label} does not fit the budget: batch 1 needs "
                f"{_gib(reports[1].peak_bytes)}, the budget is {_gib(budget_bytes)} ({options.mode})"
            ) from exc
        raise
    return BatchFit(batch, peak, nxt, nxt_peak, budget_bytes, probes, reports[batch])


def _gib(n: int) -> str:
    return f"{fmt_bytes(n)} ({n:,} bytes)"


__all__ = [
    "KINDS",
    "OPTIMIZERS",
    "STATEFUL",
    "BatchFit",
    "MemoryReport",
    "ModuleMemory",
    "check_optimizer",
    "largest_batch",
    "memory",
]
