"""The device-neutral timing loop: warm up, then sample one call at a time until the stop policy says so.

A *timer* brackets each call. On CPU it reads ``time.perf_counter`` around the call (the call is
synchronous). On CUDA (``cuda.CudaEventTimer``) it records an event pair on the stream and reads the
elapsed times only once the events have completed, so the loop never synchronizes between calls;
one synchronize at the end collects the stragglers. Every sample is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from archinspect.bench.policy import STABLE, StopPolicy, WarmupPolicy


class Timer(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def collect(self) -> list[float]:
        """Seconds of the calls completed since the last collect; never blocks."""
        ...

    def finish(self) -> list[float]:
        """Wait for every outstanding call and return the remaining seconds."""
        ...

    def sync(self) -> None:
        """Wait until the device has finished all queued work."""
        ...


class PerfCounterTimer:
    """Host wall-clock timer for synchronous devices (CPU)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._t0 = 0.0
        self._done: list[float] = []

    def start(self) -> None:
        self._t0 = self._clock()

    def stop(self) -> None:
        self._done.append(self._clock() - self._t0)

    def collect(self) -> list[float]:
        out, self._done = self._done, []
        return out

    def finish(self) -> list[float]:
        return self.collect()

    def sync(self) -> None:
        pass


@dataclass
class Measurement:
    """What one timing loop produced: every sample (seconds) and how warm-up and sampling ended."""

    samples: list[float] = field(default_factory=list)
    stopped_by: str = STABLE
    warmup_iters: int = 0
    warmup_time: float = 0.0
    sampling_time: float = 0.0


def warm_up(
    step: Callable[[], object],
    timer: Timer,
    policy: WarmupPolicy,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[int, float]:
    """Call ``step`` until ``policy`` is satisfied, waiting for the device after every call (so the
    warm-up time is real device time); returns (calls, seconds)."""
    t0 = clock()
    n = 0
    while not policy.done(n, clock() - t0):
        step()
        timer.sync()
        n += 1
    return n, clock() - t0


def sample(
    step: Callable[[], object],
    timer: Timer,
    policy: StopPolicy,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Time ``step`` call by call until ``policy`` stops it; every sample is kept.

    The spread test sorts the samples, so it runs at geometric checkpoints (every ~10 % more samples)
    rather than after every call; the count and time caps are checked after every call.
    """
    samples: list[float] = []
    launched = 0
    next_check = policy.min_iters
    t0 = clock()
    reason: str | None = None
    while reason is None:
        timer.start()
        step()
        timer.stop()
        launched += 1
        samples.extend(timer.collect())
        elapsed = clock() - t0
        reason = policy.capped(launched, elapsed)
        if reason is None and len(samples) >= next_check and elapsed >= policy.min_time:
            next_check = len(samples) + max(1, len(samples) // 10)
            if policy.stable(samples, elapsed):
                reason = STABLE
    samples.extend(timer.finish())
    return Measurement(samples=samples, stopped_by=reason, sampling_time=clock() - t0)


def measure(
    step: Callable[[], object],
    timer: Timer,
    warmup: WarmupPolicy,
    stop: StopPolicy,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Warm up, then sample (see :func:`warm_up` and :func:`sample`)."""
    n, t = warm_up(step, timer, warmup, clock)
    m = sample(step, timer, stop, clock)
    m.warmup_iters, m.warmup_time = n, t
    return m
