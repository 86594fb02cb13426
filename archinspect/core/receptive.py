"""Receptive fields from the operators that ran, like the FLOPs: a field per tensor, derived op by op.

A :class:`FieldTracker` watches the same dispatch-level stream of ATen calls as the FLOP counter. The
model's (first) input gets the identity field; every operator's outputs get a field derived from its
inputs' fields by the rule for that operator; tensors that do not depend on the input (weights, buffers,
constants) have none. Nothing is guessed from module types, so residual adds, concatenations, ``x.mean``
and ``F.interpolate`` inside a custom ``forward`` are followed like any ``nn.Conv2d``.

The representation is exact rather than a closed formula: along each spatial axis a tensor keeps, for
every unit (index) of that axis, the first and last input pixel the unit sees (``lo``, ``hi``; pixel 0 is
the input's first; fields are *unclipped*: a unit near the border reaches into the padding, negative
pixels, as in Araujo, Norris & Sim, Distill 2019). Convolutions (any kernel, stride, padding, dilation,
transposed), window pooling (ceil mode), adaptive pooling, upsampling (nearest, nearest-exact, linear,
bicubic), padding, views, slices and concatenation map unit intervals to unit intervals exactly.
Elementwise ops (residual adds) and concatenation along channels take, per unit, the hull of their inputs'
fields (for aligned branches, the usual case, that is the largest branch). Reductions over a spatial axis
(global pooling, ``mean``), flatten and dense ops (``addmm``) give every unit the whole field: the hull of
every unit's field. Normalisation statistics are not counted as seeing (BatchNorm, LayerNorm keep the
field of their input). An operator with no rule gives its outputs the whole field and marks them
``bound`` (an upper bound), so nothing is silently too small.

Each axis also keeps a nominal ``jump`` (the distance in input pixels between neighbouring units: the
product of strides, divided by upsampling factors), which extrapolates fields into padding positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.weak import WeakTensorKeyDictionary

from archinspect.core.compat import view_base
from archinspect.core.cost_table import OTHER_OP_COST
from archinspect.core.field_rules import CONSTANT, RULES, rule_pointwise
from archinspect.core.fields import FieldMap, ReceptiveField, input_field, summarize, union
from archinspect.core.observe import ModuleCall, PassObserver, PassRun
from archinspect.core.report import Report
from archinspect.core.tensors import tensors

__all__ = ["FieldMap", "FieldTracker", "ReceptiveField", "ReceptiveObserver", "summarize"]

# A field keeps two integers per unit of every spatial axis of every tensor: past this many units along an
# axis (an input of 1,1,10**9,10**9 on meta) tracking would exhaust memory, so fields are not tracked.
MAX_TRACKED_UNITS = 65_536


def _is_pointwise(func: Any, name: str) -> bool:
    """Element by element: tagged so by torch, or an activation or elementwise op of the cost table (torch
    does not tag every one, e.g. ``hardswish``)."""
    if torch.Tag.pointwise in func.tags:
        return True
    spec = OTHER_OP_COST.get(name) or OTHER_OP_COST.get(name.removesuffix("_"))
    return spec is not None and spec[0] in ("activation", "elementwise") and name != "glu"  # glu halves a dim


class FieldTracker:
    """Gives every tensor of a pass its :class:`FieldMap`; call it with each ATen call after it ran.

    ``unruled``: names of operators that met a field and had no rule (their outputs are upper bounds).
    """

    def __init__(self) -> None:
        self.fields: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self.unruled: list[str] = []

    def mark_input(self, x: Any) -> None:
        """Make ``x`` the model input whose pixels fields are counted in (not past MAX_TRACKED_UNITS per axis)."""
        if isinstance(x, torch.Tensor) and max(x.shape[2:], default=0) <= MAX_TRACKED_UNITS:
            fm = input_field(x)
            if fm is not None:
                self.fields[x] = fm

    def get(self, t: Any) -> FieldMap | None:
        return self.fields.get(t) if isinstance(t, torch.Tensor) else None

    def of(self, obj: Any) -> ReceptiveField | None:
        """The receptive field of the first tensor in ``obj`` (a module's output), or None."""
        first = next(tensors(obj), None)
        return summarize(self.get(first)) if first is not None else None

    def __call__(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> None:
        if not self.fields:
            return
        name = func.overloadpacket.__name__
        rule = RULES.get(name)
        if rule is None:
            rule = rule_pointwise if _is_pointwise(func, name) else None
        outs = list(tensors(out))
        if not outs:
            return
        if rule == CONSTANT:
            for t in outs:
                self.fields.pop(t, None)
            return
        if rule is None:
            inputs = [self.get(t) for t in tensors((args, kwargs))]
            if all(m is None for m in inputs):
                return
            if name not in self.unruled:
                self.unruled.append(name)
            result: Any = union([m.collapsed(bound=True) for m in inputs if m is not None])
        else:
            result = rule(func, args, kwargs, out, self.get)  # type: ignore[operator]
        if isinstance(result, list):
            for t, m in zip(outs, result, strict=False):
                self._set(t, m)
        else:
            for t in outs:
                self._set(t, result)
        if func._schema.is_mutable and result is not None and not isinstance(result, list):
            self._write_through(outs[0], result)

    def _write_through(self, view: torch.Tensor, fm: FieldMap) -> None:
        """An in-place write into a view (``out[:, :c] = y``, ``out[:, :c].copy_(y)``) reaches its base.

        When the view keeps the base's dimensions and sizes along every axis with a field (a slice of
        channels, the usual case), the base's units take the hull exactly; otherwise the base gets the whole
        field, marked a bound.
        """
        base = view_base(view)
        if base is None or not isinstance(base, torch.Tensor):
            return
        same = view.dim() == base.dim() and all(view.shape[d] == base.shape[d] for d in fm.axes)
        written = fm if same else fm.collapsed(bound=True)
        self._set(base, union([self.get(base), written]))

    def _set(self, t: torch.Tensor, fm: FieldMap | None) -> None:
        if fm is None:
            self.fields.pop(t, None)
        else:
            self.fields[t] = fm


class ReceptiveObserver(PassObserver):
    """The pass's receptive-field observer: every record gets the field of its output (``LayerRecord.rf``),
    followed through every operator like the FLOPs; a note names operators without an exact rule."""

    def __init__(self) -> None:
        self.tracker = FieldTracker()

    def start(self, run: PassRun) -> None:
        first = next(tensors(run.args), None)
        if first is not None:
            self.tracker.mark_input(first)

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        self.tracker(func, args, kwargs, out)

    def leave(self, call: ModuleCall, output: Any) -> None:
        call.record.rf = self.tracker.of(output)

    def finish(self, report: Report) -> None:
        if self.tracker.unruled:
            report.notes.append(
                "receptive fields are upper bounds after operators without an exact rule: "
                + ", ".join(self.tracker.unruled)
            )
