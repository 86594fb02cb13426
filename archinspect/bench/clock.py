"""Timestamps inside one forward pass, on the device's own timeline: the tiny device layer of ``profile``.

A :class:`MarkClock` hands out *marks* (opaque timestamps) and turns pairs of marks into seconds later:

- :class:`HostClock` (CPU, where every kernel runs synchronously on the calling thread): a mark is
  ``time.perf_counter_ns()``; resolving costs nothing.
- :class:`EventClock` (CUDA): a mark is a ``torch.cuda.Event(enable_timing=True)`` recorded on the current
  stream. Recording is asynchronous, so marking around every module adds no host synchronisation; one
  ``synchronize`` in :meth:`MarkClock.settle` at the end of the pass, then ``elapsed_time`` per pair.

Everything that *uses* the marks (the timing observer, the train-step phases) is device-neutral and is
tested on CPU with a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import torch


class MarkClock(Protocol):
    def mark(self) -> Any:
        """A timestamp taken now (on the device's stream for CUDA)."""
        ...

    def settle(self) -> None:
        """Wait until every mark taken so far has its time (one device synchronise on CUDA)."""
        ...

    def seconds(self, start: Any, end: Any) -> float:
        """Seconds from ``start`` to ``end`` (both marks of this clock; call :meth:`settle` first)."""
        ...


class HostClock:
    """``perf_counter_ns`` marks: exact on a synchronous device (CPU)."""

    def __init__(self, now: Callable[[], int] = time.perf_counter_ns) -> None:
        self._now = now

    def mark(self) -> int:
        return self._now()

    def settle(self) -> None:
        pass

    def seconds(self, start: int, end: int) -> float:
        return (end - start) / 1e9


class EventClock:
    """CUDA events recorded on the current stream; no host synchronisation until :meth:`settle`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def mark(self) -> Any:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def settle(self) -> None:
        torch.cuda.synchronize(self.device)

    def seconds(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end)) / 1e3


CLOCKS = ("wall", "thread")


def make_clock(device: torch.device, kind: str = "wall") -> MarkClock:
    """Events on CUDA; on CPU ``perf_counter_ns`` (``wall``) or ``thread_time_ns`` (``thread``: the CPU time of
    the calling thread, which a busy machine's preemption does not inflate; one intra-op thread only, since
    the work of torch's other threads is not in it)."""
    if device.type == "cuda":
        return EventClock(device)
    return HostClock(time.thread_time_ns) if kind == "thread" else HostClock()


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
