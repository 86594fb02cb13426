"""The device's ceilings, measured in the same run and dtype as the model they judge (``profile``'s roofline).

- **Compute roof**: the matmul peak of :mod:`.peak` (FLOP/s), the same figure ``bench`` shows as "% peak".
- **Memory roof**: a copy bandwidth: ``dst.copy_(src)`` over tensors far larger than the last-level cache
  (CPU 128 MiB each, CUDA 1 GiB), counted as bytes read + bytes written per second.
- **Fixed cost per call**: the time one module call with one operator on a one-element tensor takes
  (Python's module call, the dispatcher, a kernel launch on CUDA); a module whose roof time is below it
  cannot run faster than it, whatever its FLOPs and bytes.

Each is a median over repeated calls with the stopping rule the peak uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archinspect.bench.clock import sync
from archinspect.bench.peak import PEAK_STOP, PEAK_WARMUP, make_timer, measure_matmul_peak
from archinspect.bench.policy import StopPolicy, WarmupPolicy
from archinspect.bench.result import PeakResult
from archinspect.bench.stats import summarize
from archinspect.bench.timing import PerfCounterTimer, measure

COPY_BYTES = {"cpu": 128 * 2**20, "cuda": 2**30}  # per tensor; the copy moves twice this
CALLS_PER_SAMPLE = 200  # the fixed cost is timed over a run of calls (one call is below the clock's resolution)
CALL_STOP = StopPolicy(min_iters=10, max_iters=500, min_time=0.3, max_time=2.0, target_rel_iqr=0.05)


@dataclass(frozen=True)
class Ceilings:
    """What the device can do in ``dtype``: FLOP/s from the matmul peak, bytes/s from a copy, seconds per call."""

    device: str
    dtype: str
    peak: PeakResult
    copy_bytes: int  # bytes moved by one copy (read + write)
    copy_median_s: float
    copy_rel_iqr: float
    call_s: float  # the fixed cost of one module call with one tiny operator, called plainly
    call_in_pass_s: float | None = None  # the same call as a profiled row measures it (set by ``profile``)

    @property
    def fixed_s(self) -> float:
        """The fixed cost a verdict uses: a tiny call as the profiled rows are measured, where known."""
        return max(self.call_s, self.call_in_pass_s or 0.0)

    @property
    def flops_per_s(self) -> float:
        return self.peak.flops / self.peak.median_s

    @property
    def bytes_per_s(self) -> float:
        return self.copy_bytes / self.copy_median_s

    @property
    def ridge(self) -> float:
        """The arithmetic intensity (FLOPs per byte) where the two roofs meet."""
        return self.flops_per_s / self.bytes_per_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "dtype": self.dtype,
            "matmul_peak": self.peak.to_dict(),
            "flops_per_s": self.flops_per_s,
            "copy_bytes": self.copy_bytes,
            "copy_median_ms": self.copy_median_s * 1e3,
            "copy_rel_iqr": self.copy_rel_iqr,
            "bytes_per_s": self.bytes_per_s,
            "ridge_flops_per_byte": self.ridge,
            "call_overhead_us": self.call_s * 1e6,
            "call_in_pass_us": None if self.call_in_pass_s is None else self.call_in_pass_s * 1e6,
            "fixed_cost_us": self.fixed_s * 1e6,
        }


def measure_copy_bandwidth(
    device: torch.device,
    dtype: torch.dtype,
    *,
    nbytes: int | None = None,
    warmup: WarmupPolicy = PEAK_WARMUP,
    stop: StopPolicy = PEAK_STOP,
    clock: str = "wall",
) -> tuple[int, float, float]:
    """(bytes moved per copy, median seconds, IQR/median) of ``dst.copy_(src)`` over ``nbytes``-byte tensors."""
    size = nbytes or COPY_BYTES["cuda" if device.type == "cuda" else "cpu"]
    n = size // torch.empty((), dtype=dtype).element_size()
    with torch.inference_mode():
        src = torch.ones(n, device=device, dtype=dtype)
        dst = torch.empty_like(src)
        m = measure(lambda: dst.copy_(src), make_timer(device, clock), warmup, stop)
    st = summarize(m.samples)
    return 2 * src.numel() * src.element_size(), st.median, st.rel_iqr


class TinyLayer(nn.Module):
    """One operator on a one-element tensor: what a module call costs when its work is nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


def per_call_seconds(
    call: Callable[[], object],
    device: torch.device,
    *,
    calls: int = CALLS_PER_SAMPLE,
    warmup: WarmupPolicy = PEAK_WARMUP,
    stop: StopPolicy = CALL_STOP,
    clock: str = "wall",
) -> float:
    """Median seconds of one ``call()``, timed as runs of ``calls`` calls followed by one device sync (on CUDA
    the host's launch rate is then what limits a run of tiny kernels, as it does inside a model)."""

    def run() -> None:
        for _ in range(calls):
            call()
        sync(device)

    m = measure(run, PerfCounterTimer(time.thread_time if clock == "thread" else time.perf_counter), warmup, stop)
    return summarize(m.samples).median / calls


def measure_call_overhead(device: torch.device, dtype: torch.dtype, clock: str = "wall") -> float:
    """Seconds of one :class:`TinyLayer` call (see :func:`per_call_seconds`)."""
    layer = TinyLayer()
    with torch.inference_mode():
        x = torch.ones(1, device=device, dtype=dtype)
        return per_call_seconds(lambda: layer(x), device, clock=clock)


def measure_ceilings(
    device: torch.device, dtype: torch.dtype, peak: PeakResult | None = None, clock: str = "wall"
) -> Ceilings:
    """The three ceilings of ``device`` in ``dtype`` (``peak``: a matmul peak already measured in this run;
    ``clock``: on CPU ``wall`` or ``thread``, as the model is timed)."""
    peak = peak or measure_matmul_peak(device, dtype, clock=clock)
    moved, median, rel_iqr = measure_copy_bandwidth(device, dtype, clock=clock)
    call = measure_call_overhead(device, dtype, clock)
    return Ceilings(str(device), str(dtype).removeprefix("torch."), peak, moved, median, rel_iqr, call)
