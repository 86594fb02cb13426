"""What ``profile`` watches in the one pass: a timer per module call, and the bytes each operator moves.

Both are :class:`~archinspect.core.observe.PassObserver` s of :func:`~archinspect.core.engine.run_pass`:

- :class:`ModuleTimer` takes a mark of a :class:`~archinspect.bench.clock.MarkClock` in ``enter`` and
  ``leave``. On CUDA the marks are events recorded on the stream: no host synchronisation per module, one
  in ``finish``. Timing passes run with ``PassOptions.count=False`` (module hooks only, no dispatch mode)
  so that the operator counter's cost is not timed; the timer goes last in the observer list, closest to
  the real call.
- :class:`TrafficCounter` charges each operator's bytes read and written (its tensor inputs, weights
  included, and its outputs) to the innermost running module's record; with the FLOPs the counter charges
  to the same records (a counting pass) these are each module's roofline coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archinspect.bench.clock import MarkClock
from archinspect.core.observe import ModuleCall, PassObserver, PassRun
from archinspect.core.report import Report
from archinspect.core.tensors import tensors


class ModuleTimer(PassObserver):
    """A mark before and after every module call; :attr:`seconds` (inclusive, by record index) after ``finish``."""

    def __init__(self, clock: MarkClock) -> None:
        self.clock = clock
        self.starts: dict[int, Any] = {}
        self.ends: dict[int, Any] = {}
        self.seconds: dict[int, float] = {}

    def enter(self, call: ModuleCall) -> None:
        self.starts[call.record.index] = self.clock.mark()

    def leave(self, call: ModuleCall, output: Any) -> None:
        self.ends[call.record.index] = self.clock.mark()

    def finish(self, report: Report) -> None:
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


@dataclass
class Traffic:
    """Bytes one module call's own operators read and wrote (``ops``: how many operators)."""

    read: int = 0
    written: int = 0
    ops: int = 0


class TrafficCounter(PassObserver):
    """Bytes read and written by every operator, charged to the innermost module running it (by record index;
    ``outside``: operators that ran outside every module)."""

    def __init__(self) -> None:
        self.run: PassRun | None = None
        self.by_record: dict[int, Traffic] = {}
        self.outside = Traffic()

    def start(self, run: PassRun) -> None:
        self.run = run

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        read, written = op_traffic(func, args, kwargs, out)
        current = self.run.current if self.run is not None else None
        t = self.outside if current is None else self.by_record.setdefault(current.index, Traffic())
        t.read += read
        t.written += written
        t.ops += 1

    def of(self, index: int) -> Traffic:
        return self.by_record.get(index, Traffic())
