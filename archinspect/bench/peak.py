"""The device's matmul peak, measured in the same run, in the same dtype and with the same timer and
stopping rule as the models, so that "share of peak" compares like with like.

The matrix size grows by doubling (256, 512, ...) while one multiplication stays short (CPU: 50 ms,
CUDA: 20 ms) up to a cap (CPU 2048, CUDA 8192): big enough to reach the library's best kernel on this
device, never so big that a slow dtype (float16 on CPU) takes minutes. Out of memory stops the growth.
"""

from __future__ import annotations

import time

import torch

from archinspect.bench.cuda import CudaEventTimer, release_memory
from archinspect.bench.policy import StopPolicy, WarmupPolicy
from archinspect.bench.result import PeakResult
from archinspect.bench.stats import summarize
from archinspect.bench.timing import PerfCounterTimer, Timer, measure

PEAK_WARMUP = WarmupPolicy(min_iters=3, min_time=0.2, max_time=2.0)
PEAK_STOP = StopPolicy(min_iters=10, max_iters=2_000, min_time=0.5, max_time=3.0, target_rel_iqr=0.05)


def make_timer(device: torch.device, clock: str = "wall") -> Timer:
    """Events on CUDA; on CPU ``perf_counter`` (``wall``) or the calling thread's CPU time (``thread``)."""
    if device.type == "cuda":
        return CudaEventTimer(device)
    return PerfCounterTimer(time.thread_time) if clock == "thread" else PerfCounterTimer()


def _one_call_seconds(a: torch.Tensor, b: torch.Tensor, timer: Timer) -> float:
    torch.matmul(a, b)  # first call: library initialisation and kernel selection
    timer.sync()
    t0 = time.perf_counter()
    torch.matmul(a, b)
    timer.sync()
    return time.perf_counter() - t0


def choose_size(device: torch.device, dtype: torch.dtype, timer: Timer) -> int:
    """The largest power-of-two size whose single matmul stays under the per-call budget (see module doc)."""
    cap, budget = (8192, 0.020) if device.type == "cuda" else (2048, 0.050)
    size = 256
    while size < cap:
        bigger = size * 2
        try:
            a = torch.randn(bigger, bigger, device=device).to(dtype)
            b = torch.randn(bigger, bigger, device=device).to(dtype)
            seconds = _one_call_seconds(a, b, timer)
        except torch.OutOfMemoryError:
            release_memory(device)
            break
        if seconds > budget:
            break
        size = bigger
    return size


def measure_matmul_peak(
    device: torch.device,
    dtype: torch.dtype,
    *,
    size: int | None = None,
    warmup: WarmupPolicy = PEAK_WARMUP,
    stop: StopPolicy = PEAK_STOP,
    clock: str = "wall",
) -> PeakResult:
    """Median time of a ``size``×``size`` @ ``size``×``size`` matmul in ``dtype``; FLOPs = 2·size³ (``clock``:
    see :func:`make_timer`)."""
    timer = make_timer(device, clock)
    with torch.inference_mode():
        n = size or choose_size(device, dtype, timer)
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        m = measure(lambda: torch.matmul(a, b), timer, warmup, stop)
    st = summarize(m.samples)
    return PeakResult(
        dtype=str(dtype).removeprefix("torch."), size=n, median_s=st.median, rel_iqr=st.rel_iqr, n_samples=st.n
    )
