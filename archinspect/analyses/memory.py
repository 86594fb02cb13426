"""Peak memory of inference and of one training step, per module, computed without allocating.

The model runs once on fake tensors (``torch._subclasses.FakeTensorMode``: shapes, dtypes and devices
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

The user's model is never modified: the run uses a copy whose parameters and buffers are fake tensors
(the real ones are never copied).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
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
from archinspect.core.devices import resolve_device
from archinspect.core.inputs import InputSpec, as_specs
from archinspect.core.memtrack import CUDA_BLOCK, KINDS, StorageInfo, StorageTracker
from archinspect.core.substitute import training_mode
from archinspect.core.tensors import nbytes
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
    mode: str
    optimizer: str | None
    dtype: torch.dtype
    amp: bool
    device: torch.device  # the device modelled (fake tensors carry it)
    label: str  # the device as resolved: meta, cpu, cuda:N
    block: int
    foreach: bool


def _setup(mode: str, optimizer: str, dtype: str | None, amp: bool, device: str, foreach: bool | None) -> _Setup:
    if mode not in ("eval", "train"):
        raise UsageError(f"--mode {mode!r} is not a mode; accepted: eval, train")
    opt = check_optimizer(optimizer) if mode == "train" else None
    if dtype is not None and (not hasattr(torch, dtype) or not getattr(torch, dtype).is_floating_point):
        raise UsageError(f"--dtype {dtype!r}: accepted: float32, float16, bfloat16, float64")
    resolved = resolve_device(device, auto="meta")
    on_cuda = resolved.startswith("cuda")
    modelled = torch.device(resolved if on_cuda else "cpu")
    cast = getattr(torch, dtype) if dtype else torch.float32
    block = CUDA_BLOCK if on_cuda else 1
    return _Setup(mode, opt, cast, amp, modelled, resolved, block, on_cuda if foreach is None else foreach)


@typed_errors
def memory(
    model: nn.Module,
    inputs: Any,
    *,
    mode: str = "eval",
    optimizer: str = "sgd",
    dtype: str | None = None,
    amp: bool = False,
    device: str = "auto",
    model_name: str | None = None,
    foreach: bool | None = None,
) -> MemoryReport:
    """Peak memory of one forward (``mode="eval"``) or one training step (``"train"``), in bytes.

    ``inputs``: shapes, :class:`InputSpec` or tensors, batch first. ``optimizer``: one of :data:`OPTIMIZERS`
    (train only). ``dtype``: cast floating parameters and inputs. ``amp``: the forward under
    ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU). ``device``: ``auto``/``meta``/``cpu`` model a plain
    allocator (exact tensor bytes); ``cuda[:N]`` models the CUDA caching allocator's 512-byte rounding and
    torch's CUDA optimizer default (``foreach=True``). Nothing is allocated in any case: the run uses meta
    tensors, or fake ones (``FakeTensorMode``) with ``amp`` or when meta cannot run the model.
    ``foreach``: override the optimizer's ``foreach`` flag.
    """
    setup = _setup(mode, optimizer, dtype, amp, device, foreach)
    specs = [s.with_dtype(str(setup.dtype).removeprefix("torch.")) if dtype else s for s in as_specs(inputs)]
    name = model_name or type(model).__name__
    notes: list[str] = []
    # Attention picks its kernel by device (flash / memory-efficient / math): on meta it would take the math
    # path, which materialises the attention matrix; fake tensors of the modelled device take the real one.
    attention = any(isinstance(m, nn.MultiheadAttention) for m in model.modules())
    if attention and not amp:
        notes.append(f"attention picks its kernel by device: computed on fake {setup.device.type} tensors")
    try:
        try:
            run = _Run(model, specs, setup, use_fake=amp or attention)
            run.execute()
        except (UsageError, ModelRunError):
            raise
        except Exception as gap:  # an operator without a meta kernel, a tensor made on the CPU in forward...
            if amp or attention:
                raise
            run = _Run(model, specs, setup, use_fake=True)
            run.execute()
            first = " ".join(str(gap).split())[:120]
            notes.append(f"meta could not run the model ({first}); computed on fake tensors instead")
    except (UsageError, ModelRunError):
        raise
    except Exception as exc:
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ModelRunError(f"{name} cannot run on input {', '.join(map(str, specs))}: {first}") from exc
    report = run.report(name)
    report.notes.extend(notes)
    return report


class _Run:
    """One tracked run: fake substitutes, module hooks, the phases, and what the tracker saw."""

    def __init__(self, model: nn.Module, specs: list[InputSpec], setup: _Setup, use_fake: bool) -> None:
        from torch._subclasses.fake_tensor import FakeTensorMode

        self.model, self.specs, self.setup = model, specs, setup
        # Meta tensors (C++ shape functions: fast) unless asked for fake ones, which keep the modelled device:
        # autocast needs it, and so does a tensor a forward creates without ``device=``.
        self.use_fake = use_fake
        self.fake: Any = FakeTensorMode(allow_non_fake_inputs=True) if use_fake else contextlib.nullcontext()
        self.where = setup.device if use_fake else torch.device("meta")
        # Modelling a CPU run, the optimizer's (real) CPU step counters count too.
        kinds = tuple({self.where.type, setup.device.type})
        self.tracker = StorageTracker(kinds, setup.block, on_alloc=self._on_alloc)
        self.records: list[ModuleMemory] = []
        self.stack: list[int] = []
        self.calls: dict[nn.Module, int] = {}
        self.names: dict[nn.Module, str] = {}
        self.baseline = 0

    # -- substitutes ----------------------------------------------------------------------------------
    def _substitute(self) -> tuple[nn.Module, list[torch.Tensor], list[torch.Tensor]]:
        """A copy of the model whose parameters and buffers are fake tensors (the user's stay untouched).

        A copy rather than ``functional_call``: checkpointed code recomputes its forward during the backward,
        after a functional call would have put the original tensors back.
        """
        train, dev, cast = self.setup.mode == "train", self.where, self.setup.dtype
        memo: dict[int, Any] = {}
        params: list[torch.Tensor] = []
        buffers: list[torch.Tensor] = []
        with self.fake:
            for t in self.model.parameters():  # unique: a shared parameter stays shared in the copy
                want = cast if t.is_floating_point() else t.dtype
                fake = nn.Parameter(torch.empty(t.shape, dtype=want, device=dev), train and t.requires_grad)
                memo[id(t)] = fake
                params.append(fake)
            for t in self.model.buffers():
                want = cast if t.is_floating_point() else t.dtype
                memo[id(t)] = torch.empty(t.shape, dtype=want, device=dev)
                buffers.append(memo[id(t)])
        copy_ = copy.deepcopy(self.model, memo)
        return copy_, params, buffers

    # -- module hooks (forward only) --------------------------------------------------------------------
    def _pre(self, module: nn.Module, args: Any) -> None:
        if self.tracker.phase != "forward":
            return  # a checkpointed region recomputed during backward
        n = self.calls.get(module, 0) + 1
        self.calls[module] = n
        parent = self.stack[-1] if self.stack else None
        rec = ModuleMemory(len(self.records), self.names[module], type(module).__name__, len(self.stack), parent, n)
        self.records.append(rec)
        if parent is not None:
            self.records[parent].children.append(rec.index)
        self.stack.append(rec.index)
        self.tracker.owner = rec.index

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.tracker.phase != "forward" or not self.stack:
            return
        rec = self.records[self.stack.pop()]
        rec.output_bytes = nbytes(output)
        self.tracker.owner = self.stack[-1] if self.stack else None

    def _on_alloc(self, info: StorageInfo) -> None:
        if self.tracker.phase == "forward":
            for i in self.stack:
                self.records[i].allocated_bytes += info.nbytes

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        info = self.tracker.info_of(t)
        if info is not None and info.kind == "other_activations" and not info.saved:
            info.saved = True
            for i in self.stack:
                self.records[i].saved_bytes += info.nbytes
        return t

    def _unhooked(self, model: nn.Module) -> set[nn.Module]:
        """Modules left without hooks: in eval, ``nn.TransformerEncoderLayer`` takes torch's fused inference
        kernel only when no hook is attached to it or below it, and a real run takes that kernel; its memory
        then counts to the module that called it (the kernel's internal workspaces are not counted)."""
        if self.setup.mode != "eval":
            return set()
        layers = [m for m in model.modules() if isinstance(m, nn.TransformerEncoderLayer)]
        return {sub for layer in layers for sub in layer.modules()}

    @contextlib.contextmanager
    def _hooks(self, unhooked: set[nn.Module]) -> Iterator[None]:
        handles = []
        try:
            for mod in self.names:
                if mod in unhooked:
                    continue
                handles.append(mod.register_forward_pre_hook(self._pre))
                handles.append(mod.register_forward_hook(self._post))
            yield
        finally:
            for h in handles:
                h.remove()

    def _autocast(self) -> Any:
        if not self.setup.amp:
            return contextlib.nullcontext()
        dev = self.setup.device.type
        return torch.autocast(dev, dtype=torch.float16 if dev == "cuda" else torch.bfloat16)

    # -- the run ----------------------------------------------------------------------------------------
    def execute(self) -> None:
        setup, tracker = self.setup, self.tracker
        model, params, buffers = self._substitute()
        self.names = {mod: n for n, mod in model.named_modules()}
        with self.fake:
            args = [s.make(self.where) for s in self.specs]
        trainable = [p for p in params if p.requires_grad]
        opt = None
        if setup.mode == "train" and setup.optimizer not in (None, "none") and trainable:
            opt = make_optimizer(setup.optimizer, trainable, setup.foreach)
            prime_optimizer(opt, trainable, self.fake)
        tracker.track_all(params, "params")
        tracker.track_all(buffers, "buffers")
        tracker.track_all(args, "inputs")
        tracker.track_all(optimizer_tensors(opt), "optimizer_state")
        self.baseline = tracker.live
        with training_mode(model, setup.mode), self._hooks(self._unhooked(model)):
            step = TrainingStep(
                lambda: model(*args),
                opt,
                on_phase=self._on_phase,
                amp=self._autocast,
                pack=self._pack,
                context=self._context,
            )
            step.infer() if setup.mode == "eval" else step.train()
        if setup.mode == "train":  # gradients are what the parameters hold after the backward
            for p in trainable:
                info = tracker.info_of(p.grad) if p.grad is not None else None
                if info is not None:
                    info.kind = "grads"

    def _context(self, phase: str) -> Any:
        """Forward and backward run in the fake mode under the tracker; the optimizer step runs under the
        tracker alone: Adam reads its (real, CPU) step counter with ``.item()``, and fake parameters still
        dispatch through their own fake mode."""
        stack = contextlib.ExitStack()
        if phase != "optimizer" and self.use_fake:
            stack.enter_context(self.fake)
        stack.enter_context(self.tracker)
        return stack

    def _on_phase(self, phase: str) -> None:
        kind = "other_activations" if phase == "forward" else "temporaries"
        self.tracker.set_phase(phase, kind)
        if phase != "forward":
            self.tracker.owner = None

    def report(self, name: str) -> MemoryReport:
        t = self.tracker
        for info in t.alive_at_peak():
            i = info.owner
            while i is not None:
                self.records[i].held_at_peak_bytes += info.nbytes
                i = self.records[i].parent
        saved = sum(i.nbytes for i in t.all if i.saved)
        dtype_name = str(self.setup.dtype).removeprefix("torch.")
        return MemoryReport(
            model_name=name,
            inputs=list(self.specs),
            mode=self.setup.mode,
            optimizer=self.setup.optimizer,
            dtype=dtype_name,
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
        )


def budget_batches(
    peak_of: Callable[[int], int], budget: int, max_batch: int
) -> tuple[int, int, int | None, int | None, list[tuple[int, int]]]:
    """Search the largest batch b with ``peak_of(b) <= budget`` (peak assumed non-decreasing in b).

    Interpolates on the nearly affine peak(batch) and bisects once a bracket exists; returns
    (batch, peak, next batch, its peak, probes). Raises ModelRunError when batch 1 does not fit.
    """
    probes: dict[int, int] = {}

    def probe(b: int) -> int:
        if b not in probes:
            probes[b] = peak_of(b)
        return probes[b]

    if probe(1) > budget:
        raise ModelRunError(f"even batch 1 needs {probes[1]:,} bytes, more than the budget of {budget:,} bytes")
    lo, hi = 1, None
    bisect = False
    while (hi is None and lo < max_batch) or (hi is not None and hi - lo > 1):
        other = hi if hi is not None else max((b for b in probes if b < lo), default=None)
        if other is None:
            guess = lo + 1
        else:
            slope = (probes[other] - probes[lo]) / (other - lo)
            guess = lo + int((budget - probes[lo]) // slope) if slope > 0 else 2 * lo
        if hi is None:
            guess = min(max(guess, lo + 1), max_batch)
        else:
            guess = (lo + hi) // 2 if bisect else min(max(guess, lo + 1), hi - 1)
            bisect = not bisect
        if probe(guess) <= budget:
            lo = guess
        else:
            hi = guess
    order = list(probes.items())
    return lo, probes[lo], hi, (probes[hi] if hi is not None else None), order


@typed_errors
def largest_batch(
    model: nn.Module,
    inputs: Any,
    budget_bytes: int,
    *,
    mode: str = "eval",
    optimizer: str = "sgd",
    dtype: str | None = None,
    amp: bool = False,
    device: str = "auto",
    max_batch: int = 1 << 20,
    model_name: str | None = None,
    foreach: bool | None = None,
    progress: bool | None = None,
) -> BatchFit:
    """The largest batch size whose peak (:func:`memory`) is at most ``budget_bytes``: every input's first
    dimension is set to the batch. Exact: ``peak(batch) <= budget_bytes < peak(batch + 1)``.

    Raises ModelRunError when batch 1 already exceeds the budget, UsageError for a budget <= 0.
    ``progress``: show the search's progress (None: on a terminal or in a notebook, not when piped).
    """
    if budget_bytes <= 0:
        raise UsageError(f"--budget {budget_bytes} must be more than 0 bytes")
    specs = as_specs(inputs)
    reports: dict[int, MemoryReport] = {}

    def peak_of(b: int) -> int:
        advance(f"batch {b}", 0)
        reports[b] = memory(
            model,
            [s.with_batch(b) for s in specs],
            mode=mode,
            optimizer=optimizer,
            dtype=dtype,
            amp=amp,
            device=device,
            model_name=model_name,
            foreach=foreach,
        )
        advance(f"batch {b} needs {fmt_bytes(reports[b].peak_bytes)}", 1)
        return reports[b].peak_bytes

    try:
        with show_progress(f"largest batch within {fmt_bytes(budget_bytes)}", None, progress) as advance:
            batch, peak, nxt, nxt_peak, probes = budget_batches(peak_of, budget_bytes, max_batch)
    except ModelRunError as exc:
        if 1 in reports:
            raise ModelRunError(
                f"{model_name or type(model).__name__} does not fit the budget: batch 1 needs "
                f"{_gib(reports[1].peak_bytes)}, the budget is {_gib(budget_bytes)} ({mode})"
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
