"""The bounds of every numeric option, in one table: what a machine can honour (no torch import).

The CLI checks each command's numeric options against :data:`OPTION_BOUNDS` before any work
(``archinspect.cli.safety.preflight``); the bench API checks the same figures (``BenchPlan.make``). A
float must also be finite: ``max_time=inf`` (``--max-time inf``) or ``nan`` would run forever.

Why these figures:

- ``--threads``: at most the machine's logical CPUs (:func:`cpu_limit`). More threads than cores never
  makes a forward faster, so a timing with them measures contention; ``torch.set_num_threads(100000)``
  crashed the process (SIGSEGV) and 10,000 drove the load average to about 1,666.
- ``--warmup-time``, ``--min-time``, ``--max-time``: at most an hour per row.
- ``--warmup``, ``--iters``: call counts a row can finish (each call may take a second).
- ``--depth``: folding deeper than any model nests is meaningless; ``--top``: rows to list;
  ``--max-size``: the largest side ``fit --solve`` tries; ``--batch`` (``memory``): a batch a tensor
  index can hold (int32), the input's byte bound still applies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from archinspect.errors import UsageError

MAX_SECONDS = 3600.0


def cpu_limit() -> int:
    """The logical CPUs of this machine (``os.cpu_count()``; 1 when unknown): the most ``--threads`` accepted."""
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Bound:
    """Inclusive bounds of one option; ``high=None`` means :func:`cpu_limit` (for ``--threads``)."""

    low: float
    high: float | None
    unit: str = ""  # how the accepted range is named: "seconds", "calls", "threads", ""

    def top(self) -> float:
        return cpu_limit() if self.high is None else self.high


# Keyed by the Python API's argument name; the command line's flag is the same name as ``--name`` (``-`` for
# ``_``; ``batch_sizes`` is ``bench --batch``), and its message is rewritten in one place
# (``archinspect.cli.common.cli_message``).
OPTION_BOUNDS: dict[str, Bound] = {
    "threads": Bound(1, None, "threads (the machine's logical CPUs)"),
    "warmup": Bound(0, 100_000, "calls"),
    "iters": Bound(1, 1_000_000, "calls"),
    "warmup_time": Bound(0, MAX_SECONDS, "seconds"),
    "min_time": Bound(0, MAX_SECONDS, "seconds"),
    "max_time": Bound(0, MAX_SECONDS, "seconds"),
    "depth": Bound(0, 10_000, "levels"),
    "top": Bound(0, 100_000, "rows"),
    "max_size": Bound(1, 65_536, "pixels"),
    "batch": Bound(1, 2**31 - 1, "samples"),
    "batch_sizes": Bound(1, 2**31 - 1, "samples"),
    "repeats": Bound(1, 100_000, "passes"),  # profile's timed passes
}


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def check_bound(name: str, value: float | int | None) -> None:
    """UsageError (``param=name``) when ``value`` is not finite or outside ``name``'s bound in
    :data:`OPTION_BOUNDS`: ``threads=100000: accepted: a whole number from 1 to 2 threads (…)``."""
    if value is None or isinstance(value, bool):
        return
    bound = OPTION_BOUNDS.get(name)
    finite = not isinstance(value, float) or value - value == 0  # inf - inf and nan - nan are nan
    if bound is None:
        if not finite:
            raise UsageError(f"{name}={value}: accepted: a finite number", param=name)
        return
    low, high = bound.low, bound.top()
    if not finite or not low <= value <= high:
        kind = "a whole number" if isinstance(value, int) else "a number"
        raise UsageError(
            f"{name}={str(value)[:24]}: accepted: {kind} from {_number(low)} to {_number(high)} {bound.unit}",
            param=name,
        )
