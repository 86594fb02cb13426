"""``archinspect diff``: two models (or two blocks) side by side — output shapes, parameters, MACs and
receptive fields per stage and in total, with the A/B ratios.

Stages are matched by position: the records at ``depth`` (default 1: the modules each model's own
``forward`` calls) in call order, the first of A beside the first of B, and so on; when one model has
more stages the other side of those rows is empty. A stage's figures are inclusive (everything below it),
so a folded container compares as one block. The total row compares the whole models: every parameter
and MAC, the final output's shape and receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.analyses.shapes import inspect_target
from archinspect.core.fields import ReceptiveField
from archinspect.core.options import PassOptions
from archinspect.core.report import LayerRecord, Report, Shape
from archinspect.core.target import Target
from archinspect.display import Displayable
from archinspect.errors import typed_errors


@dataclass(frozen=True)
class StageFigures:
    """One side of a stage: the module (or model) and its inclusive figures; MACs for the whole batch."""

    name: str
    type: str
    output_shape: Shape | None
    params: int
    macs: int
    rf: ReceptiveField | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "macs": self.macs,
            "flops": 2 * self.macs,
            "rf": self.rf.to_dict() if self.rf is not None else None,
        }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


@dataclass(frozen=True)
class StageDiff:
    """Stage ``stage`` (1-based; 0 is the whole model) of A beside that of B; either side may be missing."""

    stage: int
    a: StageFigures | None
    b: StageFigures | None

    @property
    def params_ratio(self) -> float | None:
        """A's parameters over B's (None when a side is missing or B has none)."""
        return _ratio(self.a.params, self.b.params) if self.a and self.b else None

    @property
    def macs_ratio(self) -> float | None:
        """A's MACs over B's (None when a side is missing or B has none)."""
        return _ratio(self.a.macs, self.b.macs) if self.a and self.b else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "a": self.a.to_dict() if self.a else None,
            "b": self.b.to_dict() if self.b else None,
            "params_ratio": self.params_ratio,
            "macs_ratio": self.macs_ratio,
        }


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class ModelDiff(Displayable):
    """The result of :func:`diff`: per-stage and total comparisons, and both full reports."""

    report_a: Report
    report_b: Report
    depth: int
    stages: list[StageDiff] = field(default_factory=list)
    total: StageDiff | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``archinspect diff`` (keys documented in docs/diff.md)."""

        def side(r: Report) -> dict[str, Any]:
            return {
                "model": r.model_name,
                "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in r.inputs],
                "keyword_inputs": r.extra_keys()["keyword_inputs"],
            }

        return {
            "a": side(self.report_a),
            "b": side(self.report_b),
            "depth": self.depth,
            "device": self.report_a.device,
            "mode": self.report_a.mode,
            "stages": [s.to_dict() for s in self.stages],
            "total": self.total.to_dict() if self.total else None,
        }


def _figures(rec: LayerRecord, whole: LayerRecord) -> StageFigures:
    return StageFigures(
        name=rec.name or rec.type,
        type=rec.type,
        output_shape=rec.output_shapes[0] if rec.output_shapes else None,
        params=whole.params,
        macs=whole.macs,
        rf=rec.rf,
    )


def stages_of(report: Report, depth: int) -> list[StageFigures]:
    """The records at ``depth`` that ran, in call order, with inclusive figures."""
    inclusive = report.inclusive()
    return [_figures(rec, inclusive[rec.index]) for rec in report.records if rec.depth == depth and rec.ran]


def compare_reports(report_a: Report, report_b: Report, depth: int = 1) -> ModelDiff:
    """Match two reports' stages by position and pair their totals (see the module docstring)."""
    a_stages, b_stages = stages_of(report_a, depth), stages_of(report_b, depth)
    stages = [
        StageDiff(i + 1, a_stages[i] if i < len(a_stages) else None, b_stages[i] if i < len(b_stages) else None)
        for i in range(max(len(a_stages), len(b_stages)))
    ]

    def total(r: Report) -> StageFigures:
        root = r.records[0]
        return StageFigures(
            r.model_name, root.type, root.output_shapes[0] if root.output_shapes else None, r.totals.params,
            r.totals.macs, root.rf,
        )  # fmt: skip

    return ModelDiff(report_a, report_b, depth, stages, StageDiff(0, total(report_a), total(report_b)))


@typed_errors
def diff(
    model_a: nn.Module | Target,
    model_b: nn.Module | Target,
    inputs: Any = None,
    *,
    inputs_b: Any = None,
    kwargs: dict[str, Any] | None = None,
    label_a: str | None = None,
    label_b: str | None = None,
    options: PassOptions | None = None,
    **pass_options: Any,
) -> ModelDiff:
    """Run both models once on dummy inputs and compare them stage by stage and in total.

    Args:
        model_a, model_b: ``nn.Module`` s or :class:`~archinspect.core.target.Target` s.
        inputs: A's inputs as for :func:`archinspect.inspect` (and B's unless ``inputs_b`` is given).
        kwargs: keyword inputs, given to both models.
        options: a :class:`~archinspect.core.options.PassOptions`, or the pass options as keywords; ``depth``
            (default 1 = what each model's ``forward`` calls) says which records are stages.

    Ratios are A over B. Figures for the whole batch; MACs are multiply-accumulates.
    """
    target_a = Target.of(model_a, inputs, kwargs=kwargs, label=label_a)
    target_b = Target.of(model_b, inputs if inputs_b is None else inputs_b, kwargs=kwargs, label=label_b)
    return diff_targets(target_a, target_b, PassOptions.of(options, pass_options, depth=1, receptive=True))


def diff_targets(target_a: Target, target_b: Target, options: PassOptions) -> ModelDiff:
    """:func:`diff` for targets and options already checked."""
    report_a = inspect_target(target_a, options)
    report_b = inspect_target(target_b, options)
    return compare_reports(report_a, report_b, options.depth)
