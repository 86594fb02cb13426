"""When warm-up ends and when sampling stops: pure decisions on counts and seconds, no clocks inside.

Warm-up is there so that one-off costs land outside the samples: cuDNN autotuning (the first call per
input shape tries several kernels), caching-allocator growth, lazy CUDA/oneDNN initialisation, GPU
clocks ramping up, and ``torch.compile`` guards settling. It ends when *both* a count and a time are
reached, because a fast model needs many calls to settle and a slow one needs a few whole calls; a
slow model is capped by ``max_time`` (but still gets two calls: the first pays the one-off costs,
the second shows the steady state).

Sampling stops as soon as the spread is small (interquartile range / median at most ``target_rel_iqr``)
after a minimum count and time, or when a cap on count or time is reached; the reason is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archinspect.bench.stats import relative_iqr

STABLE = "stable"
MAX_TIME = "max_time"
MAX_ITERS = "max_iters"


@dataclass(frozen=True)
class WarmupPolicy:
    """Warm up for at least ``min_iters`` calls and ``min_time`` seconds; cap at ``max_time`` seconds."""

    min_iters: int = 5
    min_time: float = 0.5
    max_time: float = 5.0

    def done(self, iters: int, elapsed: float) -> bool:
        if iters >= self.min_iters and elapsed >= self.min_time:
            return True
        return elapsed >= self.max_time and iters >= min(2, self.min_iters)


@dataclass(frozen=True)
class StopPolicy:
    """Sample for at least ``min_iters`` calls and ``min_time`` seconds until the spread is small.

    ``max_time`` wins over ``min_iters``: a model slower than the budget gets as many samples as fit
    (at least one), and the result says so.
    """

    min_iters: int = 10
    max_iters: int = 10_000
    min_time: float = 1.0
    max_time: float = 5.0
    target_rel_iqr: float = 0.05

    def __post_init__(self) -> None:
        if self.min_iters < 1 or self.max_iters < self.min_iters:
            raise ValueError(f"need 1 <= min_iters <= max_iters, got {self.min_iters} and {self.max_iters}")
        if self.max_time < self.min_time:
            raise ValueError(f"need min_time <= max_time, got {self.min_time} and {self.max_time}")

    def capped(self, launched: int, elapsed: float) -> str | None:
        """The cap that applies after ``launched`` calls and ``elapsed`` wall seconds, or ``None``."""
        if launched >= self.max_iters:
            return MAX_ITERS
        if elapsed >= self.max_time and launched >= 1:
            return MAX_TIME
        return None

    def stable(self, samples: Sequence[float], elapsed: float) -> bool:
        """Minimum count and time reached and IQR/median of the completed ``samples`` small enough."""
        if len(samples) < self.min_iters or elapsed < self.min_time:
            return False
        return relative_iqr(samples) <= self.target_rel_iqr


def unstable(stopped_by: str | None, n_samples: int, min_samples: int | None) -> bool:
    """Stopped by the time budget before the minimum sample count: its median and spread are not to be
    trusted, however tight they look (3 samples can agree by chance)."""
    return stopped_by == MAX_TIME and min_samples is not None and n_samples < min_samples


def oversubscription(
    cpu_count: int | None,
    load_average: float | None,
    threads: int,
    threads_given: int | None,
    *,
    cpu_run: bool = True,
) -> str | None:
    """A warning when a CPU run would compete for cores, with the remedy that applies to the options given.

    ``load_average``: runnable processes (1-minute average) before timing starts; the free cores are what
    it leaves of ``cpu_count``. ``threads``: the threads the run will use; ``threads_given``: ``--threads``
    as given (None: torch's default). None when the threads fit in the free cores, or nothing is known.
    ``cpu_run`` False (a GPU run): only a load above the CPU count matters, for the host's kernel launches.
    """
    if not cpu_count or load_average is None:
        return None
    free = max(cpu_count - load_average, 0.0)
    if not cpu_run:
        if load_average <= cpu_count:
            return None
        return (
            f"machine busy (load average {load_average:.2f} on {cpu_count} CPUs): kernel launches wait for a "
            "core, launch-bound rows suffer; wait for an idle machine"
        )
    if load_average <= cpu_count and threads <= free + 0.5:
        return None
    state = f"load average {load_average:.2f} on {cpu_count} CPUs, about {int(free + 0.5)} free"
    if threads > 1:
        fewer = max(1, int(free + 0.5))
        remedy = f"try --threads {fewer}" if fewer < threads else "wait for an idle machine"
        remedy += " (each thread waits for the slowest)"
    elif threads_given == 1:
        remedy = "--threads 1 is already the least contention: wait for an idle machine, or compare runs made together"
    else:
        remedy = "wait for an idle machine"
    return f"machine busy ({state}) for {threads} thread(s): timings will be slow and noisy; {remedy}"
