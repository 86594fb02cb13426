"""FLOP and MAC accounting: per module (a tree of inclusive figures), per operator, heaviest layers.

A :class:`FlopReport` is a view of the engine's :class:`~archinspect.core.report.Report`: nothing here counts
anything. The counter (``archinspect.core.counter``) decides what a MAC and an "other op" are; this module
arranges the figures the way a person reading FLOPs wants them.

Convention: MACs are multiply–accumulates of convolutions, matrix products and attention; FLOPs are
2 × MACs (PyTorch's ``torch.utils.flop_counter``). Normalisation, pooling, activations, elementwise
arithmetic, softmax and upsampling are "other ops", reported beside FLOPs and never added to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from archinspect.analyses.shapes import inspect
from archinspect.core.engine import DEFAULT_DEPTH
from archinspect.core.inputs import InputSpec
from archinspect.core.report import Report
from archinspect.text import CONVENTION

Number = int | float


def _div(value: Number, by: int) -> Number:
    """Exact integer division where it is exact (conv MACs are), a float otherwise."""
    if by == 1:
        return value
    return value // by if isinstance(value, int) and value % by == 0 else value / by


@dataclass
class ModuleFlops:
    """One module call: its figures including everything it called (``own_*``: its forward alone)."""

    index: int
    name: str  # qualified name; "" for the model itself
    type: str
    depth: int
    call: int  # 1 for a module's first call, 2 for its second, ...
    macs: Number
    other_ops: Number
    own_macs: Number
    own_other_ops: Number
    params: int  # parameters held by the module and its children (first call only)
    is_leaf: bool

    @property
    def flops(self) -> Number:
        return 2 * self.macs

    @property
    def own_flops(self) -> Number:
        return 2 * self.own_macs

    @property
    def label(self) -> str:
        base = self.name or self.type
        return base if self.call == 1 else f"{base} (call {self.call})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "call": self.call,
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
            "own_macs": self.own_macs,
            "own_flops": self.own_flops,
            "own_other_ops": self.own_other_ops,
        }


@dataclass
class OpFlops:
    """All calls of one ATen operator."""

    op: str
    category: str  # conv, matmul, attention, norm, pool, activation, elementwise, softmax, reduction, upsample
    calls: int
    macs: Number
    other_ops: Number

    @property
    def flops(self) -> Number:
        return 2 * self.macs

    @property
    def is_mac(self) -> bool:
        return self.category in MAC_CATEGORIES

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "category": self.category,
            "calls": self.calls,
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
        }


MAC_CATEGORIES = ("conv", "matmul", "attention")


@dataclass
class FlopTotals:
    macs: Number
    other_ops: Number
    params: int  # unique parameters (shared ones once), including modules that never ran

    @property
    def flops(self) -> Number:
        return 2 * self.macs

    @property
    def flops_per_param(self) -> float:
        return self.flops / self.params if self.params else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
            "params": self.params,
            "flops_per_param": round(self.flops_per_param, 4),
        }


@dataclass
class FlopReport:
    """The result of :func:`count_flops`. Figures are for the whole batch unless ``per_sample``."""

    model_name: str
    inputs: list[InputSpec]
    device: str
    mode: str
    modules: list[ModuleFlops]  # every module call that ran, in call order (a pre-order of the tree)
    ops: list[OpFlops]  # heaviest first: MAC operators by MACs, then the others by ops
    totals: FlopTotals
    depth: int = DEFAULT_DEPTH
    per_sample: bool = False
    notes: list[str] = field(default_factory=list)
    report: Report | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_report(cls, report: Report, depth: int | None = None) -> FlopReport:
        """Arrange an engine report's own figures into inclusive per-module figures (one reverse pass)."""
        ran = [r for r in report.records if r.ran]
        macs = {r.index: r.macs for r in ran}
        other = {r.index: r.other_ops for r in ran}
        params = {r.index: r.params for r in ran}
        for rec in reversed(ran):  # records are in pre-order: children come after their parent
            if rec.parent is not None:
                macs[rec.parent] += macs[rec.index]
                other[rec.parent] += other[rec.index]
                params[rec.parent] += params[rec.index]
        modules = [
            ModuleFlops(
                index=r.index,
                name=r.name,
                type=r.type,
                depth=r.depth,
                call=r.call,
                macs=macs[r.index],
                other_ops=other[r.index],
                own_macs=r.macs,
                own_other_ops=r.other_ops,
                params=params[r.index],
                is_leaf=r.is_leaf,
            )
            for r in ran
        ]
        ops = [OpFlops(t.op, t.category, t.calls, t.macs, t.other_ops) for t in report.ops.values()]
        ops.sort(key=lambda o: (not o.is_mac, -o.macs, -o.other_ops, o.op))
        totals = FlopTotals(report.totals.macs, report.totals.other_ops, report.totals.params)
        return cls(
            model_name=report.model_name,
            inputs=list(report.inputs),
            device=report.device,
            mode=report.mode,
            modules=modules,
            ops=ops,
            totals=totals,
            depth=report.depth if depth is None else depth,
            notes=list(report.notes),
            report=report,
        )

    @property
    def batch_size(self) -> int:
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else 1

    def tree(self, depth: int | None = None) -> list[ModuleFlops]:
        """Module calls down to ``depth`` (0: the model alone), each with everything below it included."""
        depth = self.depth if depth is None else depth
        return [m for m in self.modules if m.depth <= depth]

    def top(self, k: int = 10) -> list[ModuleFlops]:
        """The ``k`` module calls with the most FLOPs of their own (leaf layers, or a custom forward's
        functional ops); ties broken by other ops. Every operation is in exactly one of them."""
        mine = [m for m in self.modules if m.own_macs or m.own_other_ops]
        mine.sort(key=lambda m: (-m.own_macs, -m.own_other_ops, m.index))
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
        n = self.batch_size
        modules = [
            replace(
                m,
                macs=_div(m.macs, n),
                other_ops=_div(m.other_ops, n),
                own_macs=_div(m.own_macs, n),
                own_other_ops=_div(m.own_other_ops, n),
            )
            for m in self.modules
        ]
        ops = [replace(o, macs=_div(o.macs, n), other_ops=_div(o.other_ops, n)) for o in self.ops]
        totals = replace(self.totals, macs=_div(self.totals.macs, n), other_ops=_div(self.totals.other_ops, n))
        return replace(self, modules=modules, ops=ops, totals=totals, per_sample=True)

    def to_dict(self, depth: int | None = None, top: int = 10) -> dict[str, Any]:
        """The JSON document for ``archinspect flops --format json`` (keys documented in docs/flops.md)."""
        return {
            "model": self.model_name,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
            "device": self.device,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "per_sample": self.per_sample,
            "convention": CONVENTION,
            "notes": list(self.notes),
            "totals": self.totals.to_dict(),
            "other_ops_by_category": self.by_category(),
            "modules": [m.to_dict() for m in self.tree(depth)],
            "ops": [o.to_dict() for o in self.ops],
            "top": [m.to_dict() for m in self.top(top)],
        }


def count_flops(
    model: Any,
    inputs: Any = None,
    *,
    device: str = "auto",
    depth: int = DEFAULT_DEPTH,
    mode: str = "eval",
    dtype: str | None = None,
    model_name: str | None = None,
) -> FlopReport:
    """Count FLOPs and MACs of one forward pass of ``model`` on dummy ``inputs``.

    ``model``: an ``nn.Module`` or a MODEL reference (``"resnet50"``, ``"file.py:Net"``), built on the
    meta device. ``inputs``: shapes, :class:`InputSpec` or tensors, one per positional input; optional
    for zoo models (their default input). ``device``: ``auto`` (meta, CPU when an operator has no meta
    kernel), ``meta``, ``cpu``, ``cuda[:N]``. Figures are for the whole batch; see
    :meth:`FlopReport.per_sample_view`.
    """
    if isinstance(model, str):
        from archinspect.models.loading import load_model

        loaded = load_model(model, device="meta")
        model, model_name = loaded.model, model_name or loaded.label
        inputs = inputs if inputs is not None else loaded.default_inputs
    if inputs is None:
        from archinspect.errors import UsageError

        raise UsageError("count_flops needs inputs (e.g. [(1, 3, 224, 224)]) for a model outside the zoo")
    report = inspect(model, inputs, device=device, depth=depth, mode=mode, dtype=dtype, model_name=model_name)
    return FlopReport.from_report(report, depth)
