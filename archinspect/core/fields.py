"""Receptive-field values: per tensor, the first and last input pixel every unit sees (see
:mod:`archinspect.core.receptive` for how they are derived), their union and their per-axis summary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch


@dataclass(frozen=True)
class AxisField:
    """Along one tensor dimension: unit ``i`` sees input pixels ``lo[i]..hi[i]`` of input axis ``src``."""

    src: int  # input spatial axis (0 = H for an NCHW input, 1 = W)
    lo: tuple[int, ...]
    hi: tuple[int, ...]
    jump: Fraction  # nominal distance in input pixels between neighbouring units

    def lo_at(self, m: int) -> int:
        """First pixel of unit ``m``, extrapolated by ``jump`` outside 0..n-1 (padding positions)."""
        n = len(self.lo)
        if 0 <= m < n:
            return self.lo[m]
        return math.floor(self.lo[0] + m * self.jump) if m < 0 else math.floor(self.lo[-1] + (m - n + 1) * self.jump)

    def hi_at(self, m: int) -> int:
        n = len(self.hi)
        if 0 <= m < n:
            return self.hi[m]
        return math.ceil(self.hi[0] + m * self.jump) if m < 0 else math.ceil(self.hi[-1] + (m - n + 1) * self.jump)

    def span(self, first: Sequence[int], last: Sequence[int], jump: Fraction) -> AxisField:
        """The field of units that see units ``first[o]..last[o]`` of this axis."""
        lo, hi, n = self.lo, self.hi, len(self.lo)
        return AxisField(
            self.src,
            tuple(lo[a] if 0 <= a < n else self.lo_at(a) for a in first),
            tuple(hi[b] if 0 <= b < n else self.hi_at(b) for b in last),
            jump,
        )

    def strided(self, n_out: int, step: int, first: int, last: int, jump: Fraction) -> AxisField:
        """``span`` for unit o seeing units ``o·step + first .. o·step + last`` (convolution, pooling), by slices."""
        return AxisField(
            self.src,
            _take(self.lo, self.lo_at, n_out, step, first),
            _take(self.hi, self.hi_at, n_out, step, last),
            jump,
        )

    def hull(self) -> tuple[int, int]:
        return min(self.lo), max(self.hi)


def _take(table: tuple[int, ...], at: Any, n_out: int, step: int, offset: int) -> tuple[int, ...]:
    """``at(o·step + offset)`` for o in 0..n_out-1: a slice of ``table`` where in range, ``at`` outside."""
    n = len(table)
    o0 = max(0, -(offset // step))  # first o with o·step + offset >= 0
    o1 = min(n_out - 1, (n - 1 - offset) // step)  # last o with o·step + offset <= n - 1
    if o1 < o0:
        return tuple(at(o * step + offset) for o in range(n_out))
    head = [at(o * step + offset) for o in range(o0)]
    tail = [at(o * step + offset) for o in range(o1 + 1, n_out)]
    return (*head, *table[o0 * step + offset : o1 * step + offset + 1 : step], *tail)


@dataclass(frozen=True)
class FieldMap:
    """The receptive field of every unit of one tensor.

    ``axes``: tensor dimension -> :class:`AxisField` for dimensions that still run along an input axis.
    ``whole``: input axis -> ``(lo, hi, jump)`` seen by every unit, for input axes that were reduced,
    flattened or mixed. Every input axis is in exactly one of the two. ``bound``: an operator without an
    exact rule was on the way (the field is then an upper bound).
    """

    axes: dict[int, AxisField]
    whole: dict[int, tuple[int, int, Fraction]] = field(default_factory=dict)
    bound: bool = False

    def hulls(self) -> dict[int, tuple[int, int, Fraction]]:
        """input axis -> (lo, hi, jump) of the union of every unit's field."""
        out = dict(self.whole)
        for f in self.axes.values():
            lo, hi = f.hull()
            out[f.src] = (lo, hi, f.jump)
        return out

    def collapsed(self, dims: Sequence[int] | None = None, bound: bool = False) -> FieldMap:
        """``dims`` (all when None) folded into ``whole``; remaining axes keep their dimension."""
        keep = {d: f for d, f in self.axes.items() if dims is not None and d not in dims}
        whole = dict(self.whole)
        for d, f in self.axes.items():
            if d not in keep:
                lo, hi = f.hull()
                whole[f.src] = (lo, hi, f.jump)
        return FieldMap(keep, whole, self.bound or bound)

    def moved(self, mapping: dict[int, int]) -> FieldMap:
        """Axes renumbered by ``mapping`` (old dim -> new dim); an axis absent from it is collapsed."""
        gone = [d for d in self.axes if d not in mapping]
        base = self.collapsed(gone) if gone else self
        return FieldMap({mapping[d]: f for d, f in base.axes.items()}, base.whole, base.bound)


@dataclass(frozen=True)
class ReceptiveField:
    """One tensor's receptive field, per input spatial axis (H, W for an image), in input pixels.

    ``size``: the largest field of any unit (first to last pixel seen, padding included). ``jump``: input
    pixels between neighbouring units (the effective stride). ``start``: first pixel unit 0 sees (negative
    when it reaches into padding). ``centre``: centre of unit 0's field; unit ``i``'s centre is
    ``centre + i × jump`` when the field is uniform. ``bound``: True when an operator without an exact
    rule was on the way, so the field is an upper bound.
    """

    size: tuple[int, ...]
    jump: tuple[int | float, ...]
    start: tuple[int, ...]
    centre: tuple[int | float, ...]
    bound: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "jump": list(self.jump),
            "start": list(self.start),
            "centre": list(self.centre),
            "bound": self.bound,
        }


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def summarize(fm: FieldMap | None) -> ReceptiveField | None:
    """The per-axis figures of a :class:`FieldMap` (None for a tensor that does not depend on the input)."""
    if fm is None:
        return None
    rows: dict[int, tuple[int, int, int, Fraction]] = {}
    for f in fm.axes.values():
        size = max(map(int.__sub__, f.hi, f.lo)) + 1
        rows[f.src] = (size, f.lo[0], f.hi[0], f.jump)
    for src, (lo, hi, jump) in fm.whole.items():
        rows[src] = (hi - lo + 1, lo, hi, jump)
    if not rows:
        return None
    order = sorted(rows)
    return ReceptiveField(
        size=tuple(rows[a][0] for a in order),
        jump=tuple(_number(rows[a][3]) for a in order),
        start=tuple(rows[a][1] for a in order),
        centre=tuple(_number(Fraction(rows[a][1] + rows[a][2], 2)) for a in order),
        bound=fm.bound,
    )


def input_field(x: torch.Tensor) -> FieldMap | None:
    """The identity field of a model input: dims 2.. (N, C, spatial...) are the input's spatial axes."""
    if x.dim() < 3:
        return None
    return FieldMap(
        {d: AxisField(d - 2, tuple(range(n)), tuple(range(n)), Fraction(1)) for d, n in enumerate(x.shape) if d >= 2}
    )


def aligned(fm: FieldMap, ndim: int, shape: Sequence[int], src_shape: Sequence[int]) -> FieldMap:
    """``fm`` broadcast to an output of ``shape`` (trailing dimensions aligned, size-1 dims repeated)."""
    shift = ndim - len(src_shape)
    axes = {}
    for d, f in fm.axes.items():
        n = shape[d + shift]
        if len(f.lo) == n:
            axes[d + shift] = f
        else:  # broadcast from size 1
            axes[d + shift] = AxisField(f.src, f.lo * n, f.hi * n, f.jump)
    return FieldMap(axes, fm.whole, fm.bound)


def _widen(whole: dict[int, tuple[int, int, Fraction]], src: int, hull: tuple[int, int, Fraction]) -> None:
    old = whole.get(src)
    whole[src] = hull if old is None else (min(old[0], hull[0]), max(old[1], hull[1]), max(old[2], hull[2]))


def union(maps: Sequence[FieldMap]) -> FieldMap | None:
    """Per unit, the hull of several fields over the same output units (a sum, a channel concatenation)."""
    maps = [m for m in maps if m is not None]
    if not maps:
        return None
    if len(maps) == 1:
        return maps[0]
    by_src: dict[int, list[tuple[int, AxisField]]] = {}
    whole: dict[int, tuple[int, int, Fraction]] = {}
    for m in maps:
        for d, f in m.axes.items():
            by_src.setdefault(f.src, []).append((d, f))
        for src, hull in m.whole.items():
            _widen(whole, src, hull)
    axes: dict[int, AxisField] = {}
    for src, fields in by_src.items():
        dims = {d for d, _ in fields}
        if len(dims) > 1:  # the axis runs along different dims in different inputs: only the hull is known
            for _, f in fields:
                _widen(whole, src, (*f.hull(), f.jump))
            continue
        axes[dims.pop()] = _merged(src, [f for _, f in fields], whole)
    return FieldMap(axes, whole, any(m.bound for m in maps))


def _merged(src: int, fields: list[AxisField], whole: dict[int, tuple[int, int, Fraction]]) -> AxisField:
    """The per-unit hull of fields of one input axis along the same output dim (``whole``'s entry for that
    axis, when another input sees all of it, is folded in and removed)."""
    los = {f.lo for f in fields}  # aligned branches often share their tables
    his = {f.hi for f in fields}
    lo = los.pop() if len(los) == 1 else tuple(map(min, *los))
    hi = his.pop() if len(his) == 1 else tuple(map(max, *his))
    jump = max(f.jump for f in fields)
    if src in whole:  # another input sees the whole axis (a gate, SE): every unit sees that too
        w_lo, w_hi, w_jump = whole.pop(src)
        lo = tuple(min(v, w_lo) for v in lo)
        hi = tuple(max(v, w_hi) for v in hi)
        jump = max(jump, w_jump)
    return AxisField(src, lo, hi, jump)
