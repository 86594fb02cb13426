"""``archinspect.receptive_field``: the receptive field of every layer's output, one row per module call.

The fields come from the same pass as the shapes and FLOPs (:mod:`archinspect.core.receptive` follows
every operator that ran), so residual, concatenating and multi-branch models are covered, not only
sequential ones. Figures are in input pixels, one value per input spatial axis (H, W for an image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from archinspect.analyses.shapes import inspect_target
from archinspect.core.options import PassOptions
from archinspect.core.report import Report, Shape
from archinspect.core.target import Target
from archinspect.display import Displayable
from archinspect.errors import typed_errors


@dataclass(frozen=True)
class FieldRow:
    """One module call's output field: per input axis, ``size`` (pixels one unit sees, padding included),
    ``jump`` (pixels between neighbouring units: the effective stride), ``start`` (first pixel unit 0
    sees; negative inside the padding) and ``centre`` (centre of unit 0's field). ``bound``: an
    operator without an exact rule was on the way, so the field is an upper bound."""

    name: str
    type: str
    depth: int
    output_shape: Shape
    size: tuple[int, ...]
    jump: tuple[int | float, ...]
    start: tuple[int, ...]
    centre: tuple[int | float, ...]
    bound: bool = False


class FieldRows(Displayable, list):  # type: ignore[type-arg]
    """The rows :func:`receptive_field` returns: a plain list of :class:`FieldRow` that prints as a table."""

    __slots__ = ()


def field_rows(report: Report, depth: int | None = None) -> FieldRows:
    """The rows of ``report`` (down to ``depth``, every record when None) whose output has a field."""
    records = report.records if depth is None else report.rows(depth)
    rows = FieldRows()
    for rec in records:
        if rec.rf is None:
            continue
        rows.append(
            FieldRow(
                name=rec.name,
                type=rec.type,
                depth=rec.depth,
                output_shape=rec.output_shapes[0] if rec.output_shapes else (),
                size=rec.rf.size,
                jump=rec.rf.jump,
                start=rec.rf.start,
                centre=rec.rf.centre,
                bound=rec.rf.bound,
            )
        )
    return rows


@typed_errors
def receptive_field(
    model: nn.Module | Target,
    inputs: Any = None,
    *,
    kwargs: dict[str, Any] | None = None,
    options: PassOptions | None = None,
    **pass_options: Any,
) -> FieldRows:
    """Run ``model`` once on dummy ``inputs`` and return the receptive field of every layer's output.

    ``inputs`` and ``kwargs`` as for :func:`archinspect.inspect`; the first input's dims 2.. are the spatial
    axes (N, C, H, W). Pass options as keywords or ``options``; ``depth``: only rows down to that module depth
    (every module call when not given). The first row is the whole model's output. Raises
    :class:`~archinspect.errors.ModelRunError` when the model cannot run on the input.
    """
    depth = pass_options.get("depth", options.depth if options is not None else None)
    target = Target.of(model, inputs, kwargs=kwargs)
    report = inspect_target(target, PassOptions.of(options, pass_options, receptive=True).but(receptive=True))
    return field_rows(report, depth)
