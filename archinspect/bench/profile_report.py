"""What ``profile`` returns: per module call its measured time with its FLOPs and bytes, the ceilings they are
judged against, and how the per-module times reconcile with the whole forward timed without instrumentation.

Own versus folded: a :class:`ModuleTime` holds the call's *own* figures (time, FLOPs, bytes outside any child
module), so that every second and every byte is in exactly one record. :meth:`ProfileReport.rows` folds the
records deeper than ``depth`` into their ancestor; a row's figures are then its subtree's sums and its verdict
is judged on those sums.

Units: seconds, FLOPs (2 × MACs + other operations), bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from archinspect.bench.result import Environment
from archinspect.bench.roofs import Ceilings
from archinspect.bench.stats import SampleStats
from archinspect.bench.verdict import Roofs, Verdict, judge
from archinspect.display import Displayable

SCHEMA = "archinspect.profile/1"
RECONCILE_TOLERANCE = 0.10  # the per-module sum within 10 % of the plain forward counts as reconciled


@dataclass
class ModuleTime:
    """One module call: its own median time over the timed passes and its own work (see the module doc)."""

    index: int
    name: str
    type: str
    depth: int
    parent: int | None
    call: int
    children: list[int]
    self_s: float  # median own time, the instrumentation cost of its children's calls removed
    raw_self_s: float  # median own time as measured (it pays for its children's hooks)
    macs: int
    other_ops: int
    bytes_read: int
    bytes_written: int
    ran: bool = True  # False: a module holding parameters that the forward never called (no row)
    ops: int = 0  # ATen operators it ran itself (the counting pass), views included

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.other_ops

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def label(self) -> str:
        base = self.name or self.type
        return base if self.call == 1 else f"{base} (call {self.call})"


@dataclass
class ProfileRow:
    """A row at a depth: a record with everything below it folded in, and its verdict."""

    record: ModuleTime
    seconds: float
    flops: int
    bytes: int
    calls: int  # module calls folded into the row (itself included)
    share: float  # of the per-module total
    verdict: Verdict
    leaf: bool  # nothing below it is shown at this depth: its figures are in no other such row

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "index": r.index,
            "name": r.name,
            "type": r.type,
            "depth": r.depth,
            "call": r.call,
            "time_ms": self.seconds * 1e3,
            "share": self.share,
            "flops": self.flops,
            "bytes": self.bytes,
            "module_calls": self.calls,
            "shown_leaf": self.leaf,
            **self.verdict.to_dict(),
        }


@dataclass
class Reconciliation:
    """The per-module times against the same forward timed without instrumentation (seconds)."""

    plain: SampleStats  # the uninstrumented forward, bench's timing loop
    instrumented: SampleStats  # the root module's time in the timed passes, hooks and marks included
    module_sum_s: float  # the sum of every record's median own time (instrumentation removed)
    pass_sums: SampleStats  # per timed pass, the sum of its records' own times (instrumentation removed)
    hook_s: float  # measured instrumentation cost per module call
    calls: int  # module calls per forward

    @property
    def overhead_s(self) -> float:
        """What the instrumentation measurably added to one forward (instrumented − plain medians)."""
        return self.instrumented.median - self.plain.median

    @property
    def predicted_overhead_s(self) -> float:
        """Calls below the root × the cost per call measured on a calibration module."""
        return max(self.calls - 1, 0) * self.hook_s

    @property
    def gap_s(self) -> float:
        """The per-module medians' sum minus the plain forward's median."""
        return self.module_sum_s - self.plain.median

    @property
    def pass_gap_s(self) -> float:
        """The median per-pass sum minus the plain forward's median: what the instrumentation's removal missed."""
        return self.pass_sums.median - self.plain.median

    @property
    def interruption_s(self) -> float:
        """Median per-pass sum minus the sum of per-module medians: interruptions (other processes, the
        allocator, a stray page fault) land in some module in some passes; each module's median skips them,
        a whole pass cannot."""
        return self.pass_sums.median - self.module_sum_s

    @property
    def gap_fraction(self) -> float:
        return self.gap_s / self.plain.median if self.plain.median > 0 else float("inf")

    @property
    def reconciled(self) -> bool:
        return abs(self.gap_fraction) <= RECONCILE_TOLERANCE

    @property
    def left_s(self) -> float:
        """What the instrumentation measurably added beyond what the calibration removed."""
        return self.overhead_s - self.predicted_overhead_s

    @property
    def explained(self) -> bool:
        """Within tolerance, or a sum above the plain forward by no more than the instrumentation measurably
        left in it (plus the tolerance), or below it by no more than the interruptions per-module medians skip."""
        slack = RECONCILE_TOLERANCE * self.plain.median
        if self.reconciled:
            return True
        if self.gap_s > 0:
            return self.gap_s <= max(self.left_s, 0.0) + slack
        return -self.gap_s <= max(self.interruption_s, 0.0) + slack

    def to_dict(self) -> dict[str, Any]:
        return {
            "plain_median_ms": self.plain.median * 1e3,
            "plain_rel_iqr": self.plain.rel_iqr,
            "plain_samples": self.plain.n,
            "instrumented_median_ms": self.instrumented.median * 1e3,
            "instrumented_rel_iqr": self.instrumented.rel_iqr,
            "module_sum_ms": self.module_sum_s * 1e3,
            "pass_sum_median_ms": self.pass_sums.median * 1e3,
            "pass_sum_rel_iqr": self.pass_sums.rel_iqr,
            "pass_gap_ms": self.pass_gap_s * 1e3,
            "interruption_ms": self.interruption_s * 1e3,
            "gap_ms": self.gap_s * 1e3,
            "gap_fraction": self.gap_fraction,
            "reconciled": self.reconciled,
            "explained": self.explained,
            "left_ms": self.left_s * 1e3,
            "hook_overhead_us_per_call": self.hook_s * 1e6,
            "module_calls": self.calls,
            "measured_overhead_ms": self.overhead_s * 1e3,
            "predicted_overhead_ms": self.predicted_overhead_s * 1e3,
        }


@dataclass(repr=False)
class ProfileReport(Displayable):
    """``archinspect profile``'s result; every renderer reads this object only. In a notebook it shows its
    tables (``text/html``) and its roofline (``image/svg+xml``)."""

    model_name: str
    inputs: list[str]
    settings: dict[str, Any]
    environment: Environment
    ceilings: Ceilings
    records: list[ModuleTime]
    reconciliation: Reconciliation
    depth: int = 2
    notes: list[str] = field(default_factory=list)

    @property
    def roofs(self) -> Roofs:
        c = self.ceilings
        return Roofs(c.flops_per_s, c.bytes_per_s, c.fixed_s)

    @property
    def total_s(self) -> float:
        return sum(r.self_s for r in self.records)

    def subtree(self, index: int) -> list[ModuleTime]:
        out, todo = [], [index]
        while todo:
            rec = self.records[todo.pop()]
            out.append(rec)
            todo.extend(rec.children)
        return out

    def rows(self, depth: int | None = None) -> list[ProfileRow]:
        """Records at ``depth`` or shallower, in call order, each with its deeper records folded in."""
        depth = self.depth if depth is None else depth
        total = self.total_s
        out = []
        for rec in self.records:
            if rec.depth > depth or not rec.ran:
                continue
            below = self.subtree(rec.index) if rec.depth == depth else [rec]
            seconds = sum(r.self_s for r in below)
            flops = sum(r.flops for r in below)
            nbytes = sum(r.bytes for r in below)
            leaf = rec.depth == depth or not rec.children
            if not leaf:  # a shown parent: its own work only (its children have rows of their own)
                seconds, flops, nbytes = rec.self_s, rec.flops, rec.bytes
            calls = len(below)
            units = sum(max(r.ops, 1) for r in below)  # each operator pays at least a tiny call's fixed cost
            out.append(
                ProfileRow(
                    rec,
                    seconds,
                    flops,
                    nbytes,
                    calls,
                    seconds / total if total > 0 else 0.0,
                    judge(seconds, flops, nbytes, units, self.roofs),
                    leaf,
                )
            )
        return out

    def ranked(self, depth: int | None = None) -> list[ProfileRow]:
        """Rows whose figures are in no other row, largest saving first (what reaching the roof would save)."""
        rows = [r for r in self.rows(depth) if r.seconds > 0 and (r.leaf or r.record.self_s > 0)]
        return sorted(rows, key=lambda r: r.verdict.saving_s, reverse=True)

    def roofline_svg(self, depth: int | None = None) -> str:
        """The roofline picture as an SVG document (see :mod:`archinspect.bench.roofline`)."""
        from archinspect.bench.roofline import roofline_svg

        return roofline_svg(self, depth)

    def _repr_svg_(self) -> str:  # a notebook shows the roofline inline
        return self.roofline_svg()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {**super()._repr_mimebundle_(include, exclude), "image/svg+xml": self.roofline_svg()}

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        depth = self.depth if depth is None else depth
        return {
            "schema": SCHEMA,
            "model": self.model_name,
            "inputs": self.inputs,
            "settings": self.settings,
            "environment": self.environment.to_dict(),
            "ceilings": self.ceilings.to_dict(),
            "reconciliation": self.reconciliation.to_dict(),
            "depth": depth,
            "rows": [r.to_dict() for r in self.rows(depth)],
            "records": [{**asdict(r), "flops": r.flops, "bytes": r.bytes} for r in self.records],
            "notes": self.notes,
        }
