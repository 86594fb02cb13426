"""FLOP and MAC accounting: per module (a tree of inclusive figures), per operator, heaviest layers.

A :class:`FlopReport` arranges the core :class:`~archinspect.core.report.Report`: nothing here counts
anything. The counter (``archinspect.core.counter``) decides what a MAC and an "other op" are; this
module arranges the figures the way a person reading FLOPs wants them, with the report's own types:
a module's figures are a :class:`LayerRecord` (its own in ``own(m)``, everything below it included in
``modules``), an operator's an :class:`OpTally`, the sums :class:`Totals`.

Convention (``archinspect.text.CONVENTION``): MACs are multiply–accumulates of convolutions, matrix
products and attention; FLOPs are 2 × MACs; other ops are counted apart and never added to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from archinspect.analyses.shapes import inspect_target
from archinspect.core.options import DEFAULT_DEPTH, PassOptions
from archinspect.core.report import LayerRecord, Number, OpTally, Report, Totals
from archinspect.core.target import Target
from archinspect.display import Displayable
from archinspect.errors import typed_errors


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class FlopReport(Displayable):
    """The result of :func:`count_flops`. Figures are for the whole batch unless ``per_sample``."""

    report: Report = field(repr=False)
    depth: int = DEFAULT_DEPTH
    per_sample: bool = False
    modules: list[LayerRecord] = field(init=False)  # every call that ran, pre-order, figures inclusive
    ops: list[OpTally] = field(init=False)  # heaviest first: MAC operators by MACs, then the others by ops

    def __post_init__(self) -> None:
        inclusive = self.report.inclusive()
        self.modules = [inclusive[r.index] for r in self.report.records if r.ran]
        self.ops = sorted(self.report.ops.values(), key=lambda o: (not o.is_mac, -o.macs, -o.other_ops, o.op))

    @classmethod
    def from_report(cls, report: Report, depth: int | None = None) -> FlopReport:
        return cls(report, report.depth if depth is None else depth)

    # the pass's facts, as the report has them
    model_name = property(lambda self: self.report.model_name)
    inputs = property(lambda self: self.report.inputs)
    keyword_inputs = property(lambda self: self.report.keyword_inputs)
    device = property(lambda self: self.report.device)
    mode = property(lambda self: self.report.mode)
    notes = property(lambda self: self.report.notes)
    batch_size = property(lambda self: self.report.batch_size)

    @property
    def totals(self) -> Totals:
        return self.report.totals

    def own(self, module: LayerRecord) -> LayerRecord:
        """The figures of ``module``'s own forward, outside its children."""
        return self.report.records[module.index]

    def tree(self, depth: int | None = None) -> list[LayerRecord]:
        """Module calls down to ``depth`` (0: the model alone), each with everything below it included."""
        depth = self.depth if depth is None else depth
        return [m for m in self.modules if m.depth <= depth]

    def top(self, k: int = 10) -> list[LayerRecord]:
        """The ``k`` module calls with the most FLOPs of their own (leaf layers, or a custom forward's
        functional ops), their own figures; ties broken by other ops. Every operation is in exactly one."""
        mine = [r for r in self.report.records if r.ran and (r.macs or r.other_ops)]
        mine.sort(key=lambda m: (-m.macs, -m.other_ops, m.index))
        return mine[: max(k, 0)]

    def by_category(self) -> dict[str, Number]:
        """Other ops summed by category (norm, pool, activation, ...), heaviest first."""
        sums: dict[str, Number] = {}
        for op in self.ops:
            if op.other_ops:
                sums[op.category] = sums.get(op.category, 0) + op.other_ops
        return dict(sorted(sums.items(), key=lambda kv: -kv[1]))

    def other_ops_of(self, *categories: str) -> Number:
        return sum(o.other_ops for o in self.ops if o.category in categories)

    def per_sample_view(self) -> FlopReport:
        """The same report with every figure divided by the batch size."""
        if self.per_sample:
            return self
        return replace(self, report=self.report.per_sample(), per_sample=True)


@typed_errors
def count_flops(
    model: Any,
    inputs: Any = None,
    *,
    kwargs: dict[str, Any] | None = None,
    model_name: str | None = None,
    cpu_model: Any = None,
    options: PassOptions | None = None,
    **pass_options: Any,
) -> FlopReport:
    """Count FLOPs and MACs of one forward pass of ``model`` on dummy ``inputs``.

    Args:
        model: an ``nn.Module``, a :class:`~archinspect.core.target.Target`, or a MODEL reference
            (``"resnet50"``, ``"file.py:Net"``), built on the meta device.
        inputs: as for :func:`archinspect.inspect`; optional for zoo models (their default input).
        kwargs: keyword inputs by name.
        options: a :class:`~archinspect.core.options.PassOptions`, or the pass options as keywords
            (``device``, ``depth``, ``mode``, ``dtype``, ``force``, ``op_costs``, …; see :func:`archinspect.inspect`).

    Figures are for the whole batch; see :meth:`FlopReport.per_sample_view`.
    """
    if isinstance(model, str):
        from archinspect.models.loading import load_model

        loaded = load_model(model, device="meta")
        model, model_name = loaded.model, model_name or loaded.label
        inputs = inputs if inputs is not None else loaded.default_inputs
        cpu_model = cpu_model or loaded.cpu_model()
    target = Target.of(model, inputs, kwargs=kwargs, label=model_name, cpu_model=cpu_model)
    if not target.args and not target.kwargs:
        from archinspect.errors import UsageError

        raise UsageError("count_flops needs inputs (e.g. [(1, 3, 224, 224)]) for a model outside the zoo")
    return count_target(target, PassOptions.of(options, pass_options, receptive=True))


def count_target(target: Target, options: PassOptions) -> FlopReport:
    """:func:`count_flops` for a target and options already checked."""
    return FlopReport.from_report(inspect_target(target, options), options.depth)
