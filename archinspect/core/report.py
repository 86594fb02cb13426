"""The report one inspection pass produces: a record per module call, per-operator tallies, totals.

Every renderer (table, JSON, CSV, Markdown) and every command reads this object; nothing re-runs the
model to print it. Figures are for the whole batch; ``per_sample`` divides by the batch size.

Own versus total: a record's ``params``, ``macs`` and ``other_ops`` are its *own* — parameters it holds
directly and operations that ran in its ``forward`` outside any child module — so that every parameter
and every operation is in exactly one record, and column sums equal the totals at any depth.
``rows(depth)`` folds deeper records into their ancestor at ``depth``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from archinspect.core.categories import MAC_CATEGORIES, CostCategory
from archinspect.core.fields import ReceptiveField
from archinspect.core.inputs import InputSpec
from archinspect.display import Displayable
from archinspect.text import CONVENTION

Shape = tuple[int, ...]
Number = int | float  # figures are ints; a per-sample view divides them (exact where it can)


def _div(value: Number, by: int) -> Number:
    """Exact integer division where it is exact (conv MACs are), a float otherwise."""
    if by == 1:
        return value
    return value // by if isinstance(value, int) and value % by == 0 else value / by


@dataclass
class LayerRecord:
    """One module call (a module called twice has two records); figures for the whole batch."""

    index: int
    name: str  # qualified name; "" for the model itself
    type: str
    depth: int  # call depth: 0 for the model, 1 for what the model's forward calls, ...
    parent: int | None
    input_shapes: list[Shape] = field(default_factory=list)
    output_shapes: list[Shape] = field(default_factory=list)
    params: int = 0  # own parameters (counted at a module's first call; a shared one at its first owner)
    trainable_params: int = 0
    macs: Number = 0  # multiply-accumulates of conv / matmul / attention run by this record itself
    other_ops: Number = 0  # normalisation, pooling, activation, elementwise ... ops (not MACs)
    output_bytes: int = 0
    call: int = 1  # 1 for a module's first call, 2 for its second, ...
    ran: bool = True  # False for modules that hold parameters but were never called
    children: list[int] = field(default_factory=list)
    folded: int = 0  # how many descendant records are summed into this row (Report.inclusive / rows)
    rf: ReceptiveField | None = None  # receptive field of the first output (passes with receptive=True)

    @property
    def flops(self) -> Number:
        return 2 * self.macs

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def label(self) -> str:
        """The qualified name (the type for the model itself), with ``(call N)`` from a second call on."""
        base = self.name or self.type
        return base if self.call == 1 else f"{base} (call {self.call})"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flops"] = self.flops
        d["input_shapes"] = [list(s) for s in self.input_shapes]
        d["output_shapes"] = [list(s) for s in self.output_shapes]
        d["rf"] = self.rf.to_dict() if self.rf is not None else None
        return d


@dataclass
class OpTally:
    """All calls of one ATen operator in the pass."""

    op: str
    category: CostCategory  # conv, matmul, attention (MACs); norm, pool, activation, elementwise, ... (other ops)
    calls: int = 0
    macs: Number = 0
    other_ops: Number = 0

    @property
    def flops(self) -> Number:
        return 2 * self.macs

    @property
    def is_mac(self) -> bool:
        return self.category in MAC_CATEGORIES

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flops": self.flops}


@dataclass
class Totals:
    params: int = 0  # unique parameters (shared ones once)
    trainable_params: int = 0
    macs: Number = 0
    other_ops: Number = 0
    param_bytes: int = 0
    buffer_bytes: int = 0
    input_bytes: int = 0
    activation_bytes: int = 0  # sum of every leaf module call's output

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def flops_per_param(self) -> float:
        return self.flops / self.params if self.params else 0.0

    def to_dict(self) -> dict[str, int]:
        d = asdict(self)
        d["flops"] = self.flops
        d["non_trainable_params"] = self.non_trainable_params
        return d


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class Report(Displayable):
    """The result of :func:`archinspect.inspect`."""

    model_name: str
    inputs: list[InputSpec]
    device: str  # where the pass ran: "meta", "cpu", "cuda:0"
    mode: str  # "eval" or "train"
    records: list[LayerRecord]
    ops: dict[str, OpTally]
    totals: Totals
    depth: int = 2
    notes: list[str] = field(default_factory=list)  # e.g. the meta -> CPU fallback
    keyword_inputs: dict[str, InputSpec] = field(default_factory=dict)  # inputs passed by name
    free_ops: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> operator -> calls (no arithmetic)
    uncounted_ops: dict[str, int] = field(default_factory=dict)  # operator -> calls: ran, no formula, not in MACs
    columns: tuple[str, ...] | None = None  # the table columns its display shows (summary(columns=...)); None: all

    def input_text(self) -> str:
        """``1,3,224,224`` (several positional inputs comma-separated), then ``name=spec`` keyword inputs."""
        parts = [str(s) for s in self.inputs] + [f"{k}={s}" for k, s in self.keyword_inputs.items()]
        return ", ".join(parts)

    def extra_keys(self) -> dict[str, Any]:
        """JSON keys every view carries: ``keyword_inputs``, ``uncounted_ops`` (op -> calls), ``free_ops``
        (kind -> op -> calls; kinds: view or metadata, copy, factory)."""
        return {
            "keyword_inputs": {k: {"shape": list(s.shape), "dtype": s.dtype} for k, s in self.keyword_inputs.items()},
            "uncounted_ops": dict(sorted(self.uncounted_ops.items())),
            "free_ops": {kind: dict(sorted(ops.items())) for kind, ops in sorted(self.free_ops.items())},
        }

    def uncounted_text(self) -> str | None:
        """``uncounted operators (ran, no formula, not in any figure): nms ×1, roi_align ×4``, or None."""
        if not self.uncounted_ops:
            return None
        ops = ", ".join(f"{op} ×{n}" for op, n in sorted(self.uncounted_ops.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"uncounted operators (ran, no formula, not in any figure): {ops}"

    @property
    def batch_size(self) -> int:
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else 1

    @property
    def output_shapes(self) -> list[Shape]:
        return self.records[0].output_shapes if self.records else []

    def inclusive(self) -> list[LayerRecord]:
        """Every record with everything below it summed in (params, MACs, other ops; ``folded`` counts the
        records summed). One reverse pass: records are in pre-order, children after their parent."""
        rows = [replace(r, children=list(r.children)) for r in self.records]
        for row in reversed(rows):
            if row.parent is not None:
                up = rows[row.parent]
                up.params += row.params
                up.trainable_params += row.trainable_params
                up.macs += row.macs
                up.other_ops += row.other_ops
                up.folded += row.folded + 1
        return rows

    def rows(self, depth: int | None = None) -> list[LayerRecord]:
        """Records down to ``depth``; a row at ``depth`` carries the sums of everything below it."""
        depth = self.depth if depth is None else depth
        inclusive = self.inclusive()
        out: list[LayerRecord] = []
        for rec in self.records:
            if rec.depth < depth or (rec.depth == depth and rec.is_leaf):
                out.append(replace(rec))
            elif rec.depth == depth:
                out.append(replace(inclusive[rec.index], children=[]))
        return out

    def per_sample(self) -> Report:
        """The same report with every count (MACs, other ops, bytes of outputs) divided by the batch size."""
        n = self.batch_size
        if n == 1:
            return self
        records = [replace(r, macs=_div(r.macs, n), other_ops=_div(r.other_ops, n)) for r in self.records]
        ops = {k: replace(t, macs=_div(t.macs, n), other_ops=_div(t.other_ops, n)) for k, t in self.ops.items()}
        totals = replace(self.totals, macs=_div(self.totals.macs, n), other_ops=_div(self.totals.other_ops, n))
        return replace(self, records=records, ops=ops, totals=totals)

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        """The JSON document (keys documented in the README)."""
        return {
            "model": self.model_name,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
            "device": self.device,
            "mode": self.mode,
            "depth": self.depth if depth is None else depth,
            "batch_size": self.batch_size,
            "convention": CONVENTION,
            "notes": list(self.notes),
            **self.extra_keys(),
            "totals": self.totals.to_dict(),
            "layers": [r.to_dict() for r in self.rows(depth)],
            "ops": [t.to_dict() for t in sorted(self.ops.values(), key=lambda t: (-t.macs, -t.other_ops, t.op))],
        }
