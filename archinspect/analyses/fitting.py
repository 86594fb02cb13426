"""``archinspect fit``: what each layer needs, found in one tolerant pass.

The notes' trick for ``nn.Linear(?, 10)`` is to comment the fc call out, push a batch through and read
the shape. :func:`fit` does it for every layer at once with a :class:`~archinspect.analyses.tolerant.TolerantPass`:
Linear (``in_features``), Conv1d/2d/3d (``in_channels``, ``groups``), BatchNorm1d/2d/3d (``num_features``),
LayerNorm (``normalized_shape``) and GroupNorm (``num_channels``, ``num_groups``). A layer that receives
what it declares runs as written; one that does not is recorded as a :class:`Mismatch` and stepped over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.analyses.shapes import explain_failure
from archinspect.analyses.solve import SolveResult, valid_input_sizes
from archinspect.analyses.tolerant import Mismatch, Shape, TolerantPass, before_flatten
from archinspect.core.engine import run_pass
from archinspect.core.inputs import InputSpec
from archinspect.core.options import PassOptions
from archinspect.core.report import Report
from archinspect.core.target import Target
from archinspect.display import Displayable
from archinspect.errors import ModelRunError, UsageError, typed_errors
from archinspect.text import dims_text

__all__ = ["FitReport", "LinearUse", "Mismatch", "fit"]


@dataclass
class LinearUse:
    """What one Linear call receives (every Linear is listed, matching or not)."""

    layer: str
    in_features: int
    out_features: int
    received: Shape
    before_flatten: Shape | None = None
    matches: bool = True

    @property
    def features(self) -> int:
        return self.received[-1] if self.received else 0

    @property
    def origin(self) -> str:
        """``88×10×10 after flatten`` or ``''``."""
        return f"{dims_text(self.before_flatten[1:])} after flatten" if self.before_flatten else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "received": list(self.received),
            "before_flatten": list(self.before_flatten) if self.before_flatten else None,
            "matches": self.matches,
        }


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class FitReport(Displayable):
    """The result of :func:`fit`: every mismatch, what each Linear receives, maybe the sizes that fit."""

    model_name: str
    inputs: list[InputSpec]
    device: str
    mismatches: list[Mismatch]
    linears: list[LinearUse]
    output_shapes: list[Shape]
    notes: list[str] = field(default_factory=list)
    solve: SolveResult | None = None  # when the input sizes were searched
    report: Report | None = field(default=None, repr=False)  # the tolerant pass's inspection report

    @property
    def consistent(self) -> bool:
        return not self.mismatches

    @property
    def linear_mismatches(self) -> list[Mismatch]:
        return [m for m in self.mismatches if m.type == "Linear" or m.attribute == "in_features"]

    @property
    def wants_solve(self) -> bool:
        """Searching input sizes is worth it: a Linear mismatches and the input has spatial dimensions."""
        spatial = len(self.inputs[0].shape) > 2 if self.inputs else False
        return spatial and bool(self.linear_mismatches)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys documented in docs/fit.md)."""
        return {
            "model": self.model_name,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
            "device": self.device,
            "consistent": self.consistent,
            "mismatches": [m.to_dict() for m in self.mismatches],
            "linears": [u.to_dict() for u in self.linears],
            "output_shapes": [list(s) for s in self.output_shapes],
            "notes": list(self.notes),
            "solve": self.solve.to_dict() if self.solve is not None else None,
        }


def _linear_uses(report: Report, calls: list[tuple[str, nn.Linear, Shape]]) -> list[LinearUse]:
    """Pair the interceptor's Linear calls with their records (same order) to find what was flattened."""
    by_name: dict[str, list[int]] = {}
    for rec in report.records:
        if rec.ran:
            by_name.setdefault(rec.name, []).append(rec.index)
    seen: dict[str, int] = {}
    uses = []
    for name, mod, shape in calls:
        n = seen.get(name, 0)
        seen[name] = n + 1
        indices = by_name.get(name, [])
        flat = None
        if len(shape) == 2 and n < len(indices):
            flat = before_flatten(report.records, indices[n], shape[-1])
        fits = shape[-1] == mod.in_features
        uses.append(LinearUse(name, mod.in_features, mod.out_features, shape, flat, matches=fits))
    return uses


def _no_status(text: str) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


@typed_errors
def fit(
    model: nn.Module | Target,
    inputs: Any = None,
    *,
    kwargs: dict[str, Any] | None = None,
    model_name: str | None = None,
    sites: Mapping[str, str] | None = None,
    solve: bool | None = None,
    max_size: int | None = None,
    status: Callable[[str], AbstractContextManager[Any]] | None = None,
    options: PassOptions | None = None,
    progress: bool | None = None,
    **pass_options: Any,
) -> FitReport:
    """Run ``model`` once on dummy ``inputs``, stepping over every size mismatch, and report them all.

    Args:
        model, inputs, kwargs, model_name: as for :func:`archinspect.inspect` (keyword inputs reach the pass
            and every probe of the size search).
        sites: layer name -> "file:line" where it was constructed (see
            :func:`archinspect.models.sites.construction_sites`).
        solve: also search the input sizes that fit the model as written (``None``: only when a Linear
            mismatches and the input has spatial dimensions). ``max_size``: the largest size tried.
        status: a context manager factory shown around the input-size search (a spinner in the CLI).
        progress: show the size search's probes as they run (None: on a terminal or in a notebook, not
            when piped; False: never).
        options: a :class:`~archinspect.core.options.PassOptions`, or the pass options as keywords.

    Raises :class:`ModelRunError` naming the failing layer when the model fails for a reason fit cannot step
    over (a reshape to a hard-coded size, ...).
    """
    target = Target.of(model, inputs, kwargs=kwargs, label=model_name)
    options = PassOptions.of(options, pass_options)
    return fit_target(
        target, options, sites=sites, solve=solve, max_size=max_size, status=status, progress=progress
    )


def fit_target(
    target: Target,
    options: PassOptions,
    *,
    sites: Mapping[str, str] | None = None,
    solve: bool | None = None,
    max_size: int | None = None,
    status: Callable[[str], AbstractContextManager[Any]] | None = None,
    progress: bool | None = None,
) -> FitReport:
    """:func:`fit` for a target and options already checked."""
    tolerant = TolerantPass()
    mode = options.mode
    try:
        report = run_pass(target, options, [tolerant])
    except ModelRunError as err:
        found = "; ".join(m.message for m in tolerant.mismatches.values())
        before = found and f" (before that, fit found: {found})"
        explained = explain_failure(err, target, mode, before)
        if explained is err:
            raise
        raise explained from err
    uses = _linear_uses(report, tolerant.linear_calls)
    mismatches = list(tolerant.mismatches.values())
    for m in mismatches:
        if m.attribute == "in_features":
            flats = [u.before_flatten for u in uses if u.layer == m.layer and not u.matches]
            m.before_flatten = flats[0] if flats else None
        if sites:
            m.location = sites.get(m.layer)
    result = FitReport(
        model_name=report.model_name,
        inputs=list(report.inputs),
        device=report.device,
        mismatches=mismatches,
        linears=uses,
        output_shapes=report.output_shapes,
        notes=list(report.notes),
        report=report,
    )
    if solve or (solve is None and result.wants_solve):
        try:
            with (status or _no_status)("searching the input sizes that fit…"):
                result.solve = valid_input_sizes(target, mode=mode, max_size=max_size, progress=progress)
        except (ModelRunError, UsageError) as err:  # e.g. a 1-D input has no size to search: keep what was found
            result.notes.append(f"input sizes not searched: {err}")
    return result
