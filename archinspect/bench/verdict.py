"""The roofline verdict of one measured module: pure arithmetic on its time, FLOPs, bytes and the ceilings.

For a module that took ``t`` seconds, did ``F`` FLOPs (all arithmetic: 2 × MACs + other ops) and moved ``B``
bytes in ``n`` fixed-cost units (its operators, at least one per module call), on a device with compute roof
``P`` FLOP/s, memory roof ``W`` bytes/s and a fixed cost ``c`` seconds per unit (a module call running one
tiny operator):

- roof time ``r = max(F / P, B / W)``: the fastest the work can go; which term wins says what would bind it.
- fixed time ``n · c``: what the calls and their operators cost even with no work.
- **overhead-bound** when ``r < n·c`` and ``t <= OVERHEAD_FACTOR · n·c``: the fixed cost dominates (fuse
  layers, batch more, use CUDA graphs); also a row that did no arithmetic and moved no bytes (``r = 0``) but
  took time: a container's own Python, views and reshapes.
- **compute-bound** / **memory-bound** when ``r / t >= ROOF_FRACTION``: within reach of the roof that binds it.
- **below its roof** otherwise: a weak kernel (a depthwise convolution, a layout conversion, a
  poorly tiled shape) leaves time on the table.

``saving = t - max(r, n·c)``, never negative: what reaching the roof (or the fixed floor) would save;
rows are ranked by it. A row whose time is zero (a container's own Python, once the measured cost of its
children's instrumentation is removed) is ``no time``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMPUTE, MEMORY, OVERHEAD, BELOW = "compute-bound", "memory-bound", "overhead-bound", "below its roof"
IDLE = "no time"  # a row whose own time is nothing once the instrumentation is removed (a container's own code)
VERDICTS = (COMPUTE, MEMORY, OVERHEAD, BELOW, IDLE)
ROOF_FRACTION = 0.5  # at least half the roof's speed counts as bound by that roof
OVERHEAD_FACTOR = 3.0  # within 3× of its fixed cost: the calls, not the work, set the time


@dataclass(frozen=True)
class Roofs:
    """The ceilings a verdict is judged against (see :class:`archinspect.bench.roofs.Ceilings`)."""

    flops_per_s: float
    bytes_per_s: float
    call_s: float


@dataclass(frozen=True)
class Verdict:
    """One module's place under the roofs (seconds, FLOP/s, bytes/s, FLOPs per byte)."""

    verdict: str
    compute_s: float  # FLOPs / compute roof
    memory_s: float  # bytes / memory roof
    fixed_s: float  # fixed-cost units × fixed cost per unit
    achieved_flops_per_s: float
    achieved_bytes_per_s: float
    intensity: float | None  # FLOPs per byte; None when no bytes moved
    roof_fraction: float  # roof time / measured time
    saving_s: float

    @property
    def roof_s(self) -> float:
        return max(self.compute_s, self.memory_s)

    @property
    def bound_by(self) -> str:
        return "compute" if self.compute_s >= self.memory_s else "memory"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "bound_by": self.bound_by,
            "compute_s": self.compute_s,
            "memory_s": self.memory_s,
            "roof_s": self.roof_s,
            "fixed_s": self.fixed_s,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "achieved_bytes_per_s": self.achieved_bytes_per_s,
            "intensity_flops_per_byte": self.intensity,
            "roof_fraction": self.roof_fraction,
            "saving_s": self.saving_s,
        }


def judge(seconds: float, flops: float, nbytes: float, calls: int, roofs: Roofs) -> Verdict:
    """The verdict of a module that took ``seconds`` for ``flops`` FLOPs and ``nbytes`` bytes; ``calls``: its
    fixed-cost units (operators run, at least one per module call)."""
    compute = flops / roofs.flops_per_s
    memory = nbytes / roofs.bytes_per_s
    fixed = calls * roofs.call_s
    roof = max(compute, memory)
    t = max(seconds, 0.0)
    fraction = roof / t if t > 0 else 0.0
    if t <= 0:
        verdict = IDLE
    elif (roof < fixed and t <= OVERHEAD_FACTOR * fixed) or roof == 0:  # no work at all: all of it is overhead
        verdict = OVERHEAD
    elif fraction >= ROOF_FRACTION:
        verdict = COMPUTE if compute >= memory else MEMORY
    else:
        verdict = BELOW
    return Verdict(
        verdict=verdict,
        compute_s=compute,
        memory_s=memory,
        fixed_s=fixed,
        achieved_flops_per_s=flops / t if t > 0 else 0.0,
        achieved_bytes_per_s=nbytes / t if t > 0 else 0.0,
        intensity=flops / nbytes if nbytes > 0 else None,
        roof_fraction=fraction,
        saving_s=max(0.0, t - max(roof, fixed)),
    )
