"""What :func:`archinspect.analyses.memory.memory` and the budget search return: the peak of one inference or
training step with its per-module figures, and the largest batch within a budget. Data only; the tables are
in :mod:`archinspect.render.memory`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from archinspect.core.inputs import InputSpec
from archinspect.display import Displayable

PHASES = ("forward", "backward", "optimizer")


@dataclass
class ModuleMemory:
    """One module call's memory during the forward; every figure includes its submodules, in bytes.

    ``allocated_bytes``: storages created while it ran. ``saved_bytes``: activations autograd saved for
    backward while it ran (each storage counted once, by the module that first saved it). ``held_at_peak_bytes``:
    storages it created that were still alive at the step's peak. ``output_bytes``: its output tensors.
    """

    index: int
    name: str
    type: str
    depth: int
    parent: int | None
    call: int = 1
    allocated_bytes: int = 0
    saved_bytes: int = 0
    held_at_peak_bytes: int = 0
    output_bytes: int = 0
    children: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.type


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class MemoryReport(Displayable):
    """Peak memory of one inference (``mode="eval"``) or training step (``"train"``), bytes throughout.

    ``breakdown``: what was alive at the peak, by kind (:data:`~archinspect.core.memtrack.KINDS`; sums to
    ``peak_bytes``). ``phase_peaks``: the highest live total in each phase. ``baseline_bytes``: alive before
    the forward (parameters, buffers, inputs, optimizer state). ``saved_bytes``: all activations autograd
    saved for backward. ``block_bytes``: allocation rounding modelled (1 = none, 512 = CUDA caching allocator).
    """

    model_name: str
    inputs: list[InputSpec]
    mode: str
    optimizer: str | None
    dtype: str
    amp: bool
    device: str
    peak_bytes: int
    peak_phase: str
    breakdown: dict[str, int]
    phase_peaks: dict[str, int]
    baseline_bytes: int
    saved_bytes: int
    records: list[ModuleMemory]
    block_bytes: int = 1
    foreach: bool = False
    notes: list[str] = field(default_factory=list)
    keyword_inputs: dict[str, InputSpec] = field(default_factory=dict)  # inputs passed by name

    @property
    def batch_size(self) -> int:
        return self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else 1

    def rows(self, depth: int) -> list[ModuleMemory]:
        """Module calls at ``depth`` or shallower (figures are inclusive, so nothing needs folding)."""
        return [r for r in self.records if r.depth <= depth]

    def to_dict(self, depth: int | None = None) -> dict[str, Any]:
        rows = self.records if depth is None else self.rows(depth)
        d = asdict(self)
        d["inputs"] = [str(s) for s in self.inputs]
        d["keyword_inputs"] = {k: str(s) for k, s in self.keyword_inputs.items()}
        d["batch_size"] = self.batch_size
        d["records"] = [asdict(r) for r in rows]
        return d


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class BatchFit(Displayable):
    """The largest batch whose peak fits ``budget_bytes``: ``peak_bytes <= budget_bytes < next_peak_bytes``.

    ``next_batch``/``next_peak_bytes`` are None when ``max_batch`` itself fits. ``probes``: every
    (batch, peak bytes) computed by the search, in order.
    """

    batch: int
    peak_bytes: int
    next_batch: int | None
    next_peak_bytes: int | None
    budget_bytes: int
    probes: list[tuple[int, int]]
    report: MemoryReport | None = None  # the full report at ``batch``

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "report"}
        d["probes"] = [list(p) for p in self.probes]
        return d


__all__ = ["PHASES", "BatchFit", "MemoryReport", "ModuleMemory"]
