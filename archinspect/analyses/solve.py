"""The inverse of ``fit``: which input sizes does the model, as written, accept?

Every probe is one tolerant, shape-only pass of the engine on the meta device (nothing allocated).
Two facts make the search short: convolution and pooling output sizes never shrink when the input
grows, so (1) once an input size runs, every larger one does, and (2) what each Linear receives is a
non-decreasing step function of the input size. "Runs" and "receives at least / at most in_features"
are therefore monotone predicates, each found by a galloping + binary search in O(log size) probes —
a few dozen passes for ResNet-50 instead of one per size.

Square inputs (all spatial sizes equal) are searched as one size; when the given height and width
differ, each is searched with the other held at its given value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.analyses.tolerant import Shape, TolerantPass, before_flatten
from archinspect.core.engine import run_pass
from archinspect.core.inputs import InputSpec
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.display import Displayable
from archinspect.display import progress as show_progress
from archinspect.errors import ModelRunError, UsageError, typed_errors
from archinspect.text import dims_text

DEFAULT_MAX_SIZE = 4096
_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass
class Probe:
    """One shape-only pass at one input size."""

    size: int
    runs: bool
    error: str = ""
    received: dict[str, int] = field(default_factory=dict)  # Linear name -> features it receives (first call)
    flattened: dict[str, Shape | None] = field(default_factory=dict)  # Linear name -> shape before flatten
    # "conv2 (Conv2d in_channels)": mismatches no input size fixes
    other_mismatches: list[str] = field(default_factory=list)


@dataclass
class LinearRange:
    """The input sizes along one axis for which one Linear receives exactly its ``in_features``."""

    layer: str
    in_features: int
    low: int | None  # None: no size gives in_features
    high: int | None  # None with low set: every size from low up (to the search limit)
    gives: str = ""  # "256×5×5 = 6400"
    below: tuple[int, int] | None = None  # (size, features) of the largest size giving fewer
    above: tuple[int, int] | None = None  # (size, features) of the smallest size giving more
    everywhere: int | None = None  # set when it receives this many features at every size that runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "in_features": self.in_features,
            "low": self.low,
            "high": self.high,
            "gives": self.gives,
            "below": list(self.below) if self.below else None,
            "above": list(self.above) if self.above else None,
            "everywhere": self.everywhere,
        }


@dataclass
class AxisSolve:
    """The search along one axis: ``square`` (all spatial sizes together), or ``H``, ``W``, ``L``, ``D``."""

    axis: str
    given: int
    smallest_runnable: int | None  # None: nothing up to the limit runs
    low: int | None  # the sizes for which it runs and every Linear matches: low..high
    high: int | None  # None with low set: no upper end up to the limit
    linears: list[LinearRange]
    nearest: int | None  # the valid size nearest the given one
    max_size: int
    largest_runnable: int | None = None  # set when larger sizes fail again (e.g. a feature dimension)

    @property
    def valid(self) -> bool:
        return self.low is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "given": self.given,
            "smallest_runnable": self.smallest_runnable,
            "largest_runnable": self.largest_runnable,
            "low": self.low,
            "high": self.high,
            "nearest": self.nearest,
            "max_size": self.max_size,
            "linears": [r.to_dict() for r in self.linears],
        }


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class SolveResult(Displayable):
    """The result of :func:`valid_input_sizes`."""

    input: InputSpec
    axes: list[AxisSolve]
    probes: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def shape_at(self, axis: AxisSolve, size: int) -> Shape:
        """The full input shape with ``size`` put on ``axis``."""
        return _with_size(self.input.shape, axis.axis, size)

    @property
    def nearest_shape(self) -> Shape | None:
        """The valid input shape nearest the given one (fewest size steps), or None."""
        best = None
        for ax in self.axes:
            if ax.nearest is not None and (best is None or abs(ax.nearest - ax.given) < best[0]):
                best = (abs(ax.nearest - ax.given), self.shape_at(ax, ax.nearest))
        return best[1] if best else None

    def to_dict(self) -> dict[str, Any]:
        nearest = self.nearest_shape
        return {
            "input": list(self.input.shape),
            "axes": [a.to_dict() for a in self.axes],
            "nearest_valid_input": list(nearest) if nearest else None,
            "probes": self.probes,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }


def _with_size(shape: Shape, axis: str, size: int) -> Shape:
    spatial = len(shape) - 2
    if axis in ("square", "cube"):
        return (*shape[:2], *([size] * spatial))
    index = 2 + _AXIS_NAMES[spatial].index(axis)
    return (*shape[:index], size, *shape[index + 1 :])


class _Prober:
    """Runs (and caches) probes of one model along one axis."""

    def __init__(self, target: Target, axis: str, mode: str) -> None:
        self.target, self.axis, self.mode = target, axis, mode  # keyword inputs are passed as given at every size
        self.first = first_spec(target)
        self.options = PassOptions.check(device="meta", mode=mode, depth=0, fallback=False)
        self.cache: dict[int, Probe] = {}
        self.on_probe: Callable[[str, int], None] | None = None  # progress: (what ran, 1) after each probe

    def __call__(self, size: int) -> Probe:
        probe = self.cache.get(size)
        if probe is None:
            probe = self.cache[size] = self._run(size)
            if self.on_probe is not None:
                self.on_probe(f"{self.axis} {size}: {'runs' if probe.runs else 'fails'}", 1)
        return probe

    def _run(self, size: int) -> Probe:
        first = self.first
        sized = InputSpec(_with_size(first.shape, self.axis, size), first.dtype)
        tolerant = TolerantPass(fast=self.mode == "eval")  # train-mode BatchNorm checks the batch: run it
        try:
            report = run_pass(self.target.with_args([sized, *self.target.args[1:]]), self.options, [tolerant])
        except ModelRunError as err:
            if "no meta kernel" in str(err):
                raise ModelRunError(f"the size search runs on the meta device and {err}") from None
            return Probe(size, runs=False, error=str(err))
        probe = Probe(size, runs=True)
        indices: dict[str, list[int]] = {}
        for rec in report.records:
            if rec.type == "Linear" or rec.name in {n for n, _, _ in tolerant.linear_calls}:
                indices.setdefault(rec.name, []).append(rec.index)
        for name, _mod, shape in tolerant.linear_calls:
            if name in probe.received:
                continue
            probe.received[name] = shape[-1] if shape else 0
            index = indices.get(name, [None])[0]
            flat = index is not None and len(shape) == 2
            probe.flattened[name] = before_flatten(report.records, index, shape[-1]) if flat else None
        others = [m for m in tolerant.mismatches.values() if m.attribute != "in_features"]
        probe.other_mismatches = [f"{m.layer} ({m.type} {m.attribute})" for m in others]
        return probe


def _first_true(pred: Callable[[int], bool], low: int, high: int) -> int | None:
    """The smallest s in [low, high] with pred(s), for pred monotone (False... then True...); else None."""
    if not pred(high):
        return None
    while low < high:
        mid = (low + high) // 2
        if pred(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _gallop_first_true(pred: Callable[[int], bool], start: int, limit: int) -> int | None:
    """The smallest s >= start with pred(s) (monotone), galloping up from ``start`` to at most ``limit``."""
    if pred(start):
        return start
    if not pred(limit):
        return None
    low, step = start, 1
    while True:
        high = min(start + step, limit)
        if pred(high):
            return _first_true(pred, low + 1, high)
        if high >= limit:
            return None
        low, step = high, step * 2


def smallest_runnable(prober: _Prober, given: int, limit: int) -> int | None:
    """The smallest size along the prober's axis at which the model runs at all (Linear sizes aside)."""
    runs = lambda s: prober(s).runs  # noqa: E731
    if runs(given):
        return _first_true(runs, 1, given)
    return _gallop_first_true(runs, given, limit)


def _linear_range(prober: _Prober, name: str, in_features: int, start: int, limit: int) -> LinearRange:
    def received(s: int) -> int | None:
        return prober(s).received.get(name)

    at_least = lambda s: (received(s) or 0) >= in_features  # noqa: E731
    at_most = lambda s: not (received(s) or 0) > in_features  # noqa: E731 - "not more": monotone falling
    low = _gallop_first_true(at_least, start, limit)
    out = LinearRange(name, in_features, None, None)
    if low is None:
        out.below = (limit, received(limit) or 0)
        return out
    if received(low) != in_features:
        out.above = (low, received(low) or 0)
        if low > start:
            out.below = (low - 1, received(low - 1) or 0)
        elif received(limit) == received(low):
            out.everywhere = received(low)
        return out
    first_more = _gallop_first_true(lambda s: not at_most(s), low, limit)
    out.low = low
    out.high = None if first_more is None else first_more - 1
    if out.low == start and out.high is None:
        out.everywhere = in_features
    flat = prober(low).flattened.get(name)
    out.gives = f"{dims_text(flat[1:])} = {in_features}" if flat else str(in_features)
    return out


def _solve_axis(
    target: Target,
    axis: str,
    given: int,
    mode: str,
    limit: int,
    on_probe: Callable[[str, int], None] | None = None,
) -> tuple[AxisSolve, _Prober]:
    prober = _Prober(target, axis, mode)
    prober.on_probe = on_probe
    start = smallest_runnable(prober, given, limit)
    result = AxisSolve(axis, given, start, None, None, [], None, limit)
    if start is None:
        return result, prober
    # Conv and pooling sizes only ever run better as they grow, but a dimension that is really a feature
    # count (N,T,C inputs, a hard-coded reshape) fails again above some size: find where, cheaply.
    if not prober(limit).runs:
        first_fail = _gallop_first_true(
            lambda s: not prober(s).runs, max(start, given if prober(given).runs else start), limit
        )
        result.largest_runnable = None if first_fail is None else first_fail - 1
    declared = _declared_in_features(target.model, prober(start))
    result.linears = [_linear_range(prober, name, d, start, limit) for name, d in declared.items()]
    low, high = start, result.largest_runnable
    for r in result.linears:
        if r.low is None:
            return result, prober
        low = max(low, r.low)
        high = r.high if high is None else (high if r.high is None else min(high, r.high))
    if high is not None and low > high:
        return result, prober
    result.low, result.high = low, high
    result.nearest = min(max(given, low), high) if high is not None else max(given, low)
    return result, prober


def _declared_in_features(model: nn.Module, probe: Probe) -> dict[str, int]:
    modules = dict(model.named_modules())
    linears = [name for name in probe.received if isinstance(modules.get(name), nn.Linear)]
    return {name: modules[name].in_features for name in linears}


@typed_errors
def valid_input_sizes(
    model: nn.Module | Target,
    inputs: Any = None,
    *,
    mode: str = "eval",
    max_size: int | None = None,
    kwargs: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> SolveResult:
    """The sizes of the first input's spatial dimensions at which ``model`` runs and every Linear matches.

    Runs on the meta device. ``max_size``: the largest size tried (default 4096). ``kwargs``: keyword
    inputs, passed as given at every size. Assumes sizes behave
    monotonically (true of convolutions and pooling); a model that breaks that (e.g. branches that only
    line up at even sizes) may get ranges that are too wide. ``progress``: show the probes as they run
    (None: on a terminal or in a notebook, not when piped).
    """
    target = Target.of(model, inputs, kwargs=kwargs)
    first = first_spec(target)
    shape = first.shape
    if not 3 <= len(shape) <= 5:
        raise UsageError(
            f"input {dims_text(shape)} has no 1, 2 or 3 spatial dimensions to search "
            "(expected N,C,L or N,C,H,W or N,C,D,H,W)"
        )
    limit = max(max_size or DEFAULT_MAX_SIZE, *shape[2:])
    spatial = shape[2:]
    t0 = time.perf_counter()
    if len(spatial) == 1:
        plans = [("L", spatial[0])]
    elif len(set(spatial)) == 1:
        plans = [("square" if len(spatial) == 2 else "cube", spatial[0])]
    else:
        plans = list(zip(_AXIS_NAMES[len(spatial)], spatial, strict=True))
    axes, probes, notes = [], 0, []
    solved_probes: list[_Prober] = []
    with show_progress("searching input sizes", None, progress) as advance:
        for axis, given in plans:
            solved, prober = _solve_axis(target, axis, given, mode, limit, advance)
            axes.append(solved)
            probes += len(prober.cache)
            solved_probes.append(prober)
    for prober in solved_probes:
        for p in prober.cache.values():
            for text in p.other_mismatches:
                note = f"no input size repairs {text}; the sizes assume it fixed"
                if note not in notes:
                    notes.append(note)
    return SolveResult(first, axes, probes, time.perf_counter() - t0, notes)


def first_spec(target: Target) -> InputSpec:
    """The first positional input as a spec: the input whose spatial sizes a search varies."""
    first = target.args[0] if target.args else None
    if first is None or isinstance(first, (dict, list, tuple)) or not target.specs:
        raise UsageError("the size search varies the first positional input, and it is not a tensor")
    return target.specs[0]


def smallest_runnable_size(target: Target, *, mode: str = "eval", max_size: int | None = None) -> Shape | None:
    """The smallest square (cubic) input, same batch and channels, on which the model runs at all.

    Linear sizes aside (a mismatched Linear is stepped over). For the engine's "input too small" message:
    returns e.g. ``(1, 1, 65, 65)`` for the d2l AlexNet; None when nothing up to ``max_size`` runs.
    """
    shape = first_spec(target).shape
    if not 3 <= len(shape) <= 5:
        return None
    axis = "L" if len(shape) == 3 else ("square" if len(shape) == 4 else "cube")
    prober = _Prober(target, axis, mode)
    given = max(shape[2:])
    size = smallest_runnable(prober, given, max(max_size or DEFAULT_MAX_SIZE, given))
    return None if size is None else _with_size(shape, axis, size)
