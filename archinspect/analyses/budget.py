"""The largest batch whose peak memory fits a budget: an exact search over :func:`memory` that needs about
three batch sizes computed, because the peak is nearly affine in the batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from archinspect.analyses.memory import memory_target
from archinspect.analyses.memory_report import BatchFit, MemoryReport
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.display import progress as show_progress
from archinspect.errors import ModelRunError, UsageError, typed_errors
from archinspect.text import fmt_bytes


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


__all__ = ["budget_batches", "largest_batch", "largest_batch_target"]
