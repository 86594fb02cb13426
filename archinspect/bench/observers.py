"""What ``profile`` watches in a forward pass: a timer per module call, and the bytes each operator moves.

Both are observers of one pass, shaped like the centre's ``PassObserver`` (``start``, ``enter(call)`` just
before a module's forward runs, ``leave(call, output)`` just after it returns, ``op(func, args, kwargs, out)``
for every ATen operator, ``finish``):

- :class:`ModuleTimer` takes a mark of a :class:`~archinspect.bench.clock.MarkClock` in ``enter`` and
  ``leave``. On CUDA the marks are events recorded on the stream: no host synchronisation per module, one
  in ``finish``. A timing pass runs without the operator counter so that its dispatch cost is not timed.
- :class:`TrafficCounter` charges each operator's bytes read and written (its tensor inputs, weights
  included, and its outputs) to the innermost running module; with the FLOPs from the same counting pass
  these are the module's roofline coordinates.

:func:`observed_forward` runs one forward with module hooks (and, when counting, the project's
:class:`~archinspect.core.counter.OpCounter`) and drives the observers in the centre's order: ``enter`` in
list order, ``leave`` in reverse, so the last observer — the timer — sits closest to the real call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.bench.clock import MarkClock
from archinspect.core.costs import OpCost
from archinspect.core.counter import OpCounter
from archinspect.core.tensors import tensors


@dataclass
class CallRecord:
    """One module call of an observed forward: where it sits in the tree, and (counting passes) its own
    FLOPs and bytes — own means outside any child module, so summing over the records gives the model."""

    index: int
    name: str
    type: str
    depth: int
    parent: int | None
    call: int = 1
    children: list[int] = field(default_factory=list)
    macs: int = 0
    other_ops: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    ops: int = 0  # ATen operators it ran itself

    @property
    def flops(self) -> int:
        """All arithmetic: 2 × MACs plus the other operations (normalisation, activations, ...)."""
        return 2 * self.macs + self.other_ops

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


class PassObserver:
    """No-op base (the centre's interface; subclasses override what they need)."""

    def start(self, run: Any) -> None:
        pass

    def enter(self, call: CallRecord) -> None:
        pass

    def leave(self, call: CallRecord, output: Any) -> None:
        pass

    def op(self, func: Any, args: Any, kwargs: Any, out: Any) -> None:
        pass

    def finish(self, report: Any) -> None:
        pass


class ModuleTimer(PassObserver):
    """A mark before and after every module call; :attr:`seconds` (inclusive, by call index) after ``finish``."""

    def __init__(self, clock: MarkClock) -> None:
        self.clock = clock
        self.starts: dict[int, Any] = {}
        self.ends: dict[int, Any] = {}
        self.seconds: dict[int, float] = {}

    def enter(self, call: CallRecord) -> None:
        self.starts[call.index] = self.clock.mark()

    def leave(self, call: CallRecord, output: Any) -> None:
        self.ends[call.index] = self.clock.mark()

    def finish(self, report: Any) -> None:
        self.clock.settle()
        self.seconds = {i: self.clock.seconds(self.starts[i], self.ends[i]) for i in self.ends}


def _is_view(func: Any) -> bool:
    """A view or metadata operator (its output aliases an input and nothing is written): moves no bytes."""
    returns = func._schema.returns
    return bool(returns) and all(r.alias_info is not None and not r.alias_info.is_write for r in returns)


def op_traffic(func: Any, args: Any, kwargs: Any, out: Any) -> tuple[int, int]:
    """(bytes read, bytes written) of one ATen call: every distinct input tensor is read once, every output
    written once; a view moves nothing, ``empty`` writes nothing. An in-place operator reads and writes
    its input (its output is that input)."""
    name = func.overloadpacket.__name__
    if _is_view(func) or name.startswith("empty"):
        return 0, 0
    seen: set[int] = set()
    read = 0
    for t in tensors((args, kwargs)):
        if id(t) not in seen:
            seen.add(id(t))
            read += t.numel() * t.element_size()
    written = sum(t.numel() * t.element_size() for t in tensors(out))
    return read, written


class TrafficCounter(PassObserver):
    """Bytes read and written by every operator, charged to the innermost module running it."""

    def __init__(self) -> None:
        self.stack: list[CallRecord] = []
        self.outside = CallRecord(-1, "", "", 0, None)  # operators run outside every module

    def enter(self, call: CallRecord) -> None:
        self.stack.append(call)

    def leave(self, call: CallRecord, output: Any) -> None:
        self.stack.pop()

    def op(self, func: Any, args: Any, kwargs: Any, out: Any) -> None:
        read, written = op_traffic(func, args, kwargs, out)
        rec = self.stack[-1] if self.stack else self.outside
        rec.bytes_read += read
        rec.bytes_written += written
        rec.ops += 1


class _Hooks:
    """Module hooks building the call records and driving the observers (a stand-in for the centre's pass)."""

    def __init__(self, model: nn.Module, observers: Sequence[PassObserver]) -> None:
        self.names = {m: n for n, m in model.named_modules()}
        self.observers = list(observers)
        self.records: list[CallRecord] = []
        self.stack: list[CallRecord] = []
        self.calls: dict[nn.Module, int] = {}

    def pre(self, module: nn.Module, args: Any) -> None:
        n = self.calls[module] = self.calls.get(module, 0) + 1
        parent = self.stack[-1] if self.stack else None
        rec = CallRecord(
            len(self.records),
            self.names[module],
            type(module).__name__,
            len(self.stack),
            parent.index if parent else None,
            n,
        )
        if parent is not None:
            parent.children.append(rec.index)
        self.records.append(rec)
        self.stack.append(rec)
        for obs in self.observers:
            obs.enter(rec)

    def post(self, module: nn.Module, args: Any, output: Any) -> None:
        rec = self.stack.pop()
        for obs in reversed(self.observers):
            obs.leave(rec, output)

    def charge(self, cost: OpCost) -> None:
        if self.stack:
            self.stack[-1].macs += cost.macs
            self.stack[-1].other_ops += cost.other

    def on_op(self, func: Any, args: Any, kwargs: Any, out: Any) -> None:
        for obs in self.observers:
            obs.op(func, args, kwargs, out)


def observed_forward(
    model: nn.Module,
    args: Sequence[Any],
    observers: Sequence[PassObserver] = (),
    *,
    count: bool = False,
    context: Any = contextlib.nullcontext,
) -> list[CallRecord]:
    """Run ``model(*args)`` once under ``context()`` with every module hooked; returns the call records.

    ``count``: also run the operator counter (FLOPs into the records, ``op`` events to the observers).
    Hooks are removed in ``finally``; the model is the caller's prepared copy.
    """
    hooks = _Hooks(model, observers)
    handles = []
    try:
        for mod in hooks.names:
            handles.append(mod.register_forward_pre_hook(hooks.pre))
            handles.append(mod.register_forward_hook(hooks.post))
        for obs in observers:
            obs.start(None)
        counter = OpCounter(hooks.charge, [hooks.on_op]) if count else contextlib.nullcontext()
        with context(), counter:
            model(*args)
        for obs in observers:
            obs.finish(hooks.records)
    finally:
        for h in handles:
            h.remove()
    return hooks.records
