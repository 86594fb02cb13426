"""Everything CUDA-specific in ``bench``, kept small so that it can be read against PyTorch's
"CUDA semantics" notes line by line.

- Kernels run asynchronously: the host only queues them. ``CudaEventTimer`` therefore records an event
  pair on the current stream around each call and reads ``start.elapsed_time(end)`` (milliseconds,
  measured on the device) once ``end.query()`` says the work has finished; there is no synchronize per
  call, only one in ``finish``.
- A CUDA graph must be captured on a side stream after a few warm-up calls on that same side stream,
  with static input tensors, and nothing may synchronize or query events during capture (the timer
  only starts after capture); ``replay()`` then launches the whole forward with one call, which removes
  the per-kernel launch overhead that eager mode pays.
- ``max_memory_allocated`` is the peak of tensor memory handed out by the caching allocator since
  ``reset_peak_memory_stats`` (weights, inputs and activations; not the allocator's cached reserve).
  The runner resets it after warm-up: cuDNN autotuning (below) allocates trial workspaces through the
  same allocator, which would otherwise become the row's "peak".
- ``cudnn.benchmark = True`` makes cuDNN time several algorithms on the first call per input shape and
  keep the fastest; that autotuning happens during warm-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch


@contextlib.contextmanager
def current_device(device: torch.device) -> Iterator[None]:
    """Make ``device`` the current CUDA device for the run: events are recorded and streams taken on the
    current device, so on ``cuda:1`` they must not default to ``cuda:0``."""
    if device.type != "cuda":
        yield
        return
    with torch.cuda.device(device):
        yield


class CudaEventTimer:
    """An event pair per call on the current stream; elapsed times read without blocking (seconds)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._pending: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self._start: torch.cuda.Event | None = None

    def start(self) -> None:
        self._start = torch.cuda.Event(enable_timing=True)
        self._start.record()

    def stop(self) -> None:
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        assert self._start is not None
        self._pending.append((self._start, end))
        self._start = None

    def collect(self) -> list[float]:
        done = 0
        # Events complete in stream order, so the finished ones are a prefix of the pending list.
        while done < len(self._pending) and self._pending[done][1].query():
            done += 1
        out = [s.elapsed_time(e) / 1e3 for s, e in self._pending[:done]]
        del self._pending[:done]
        return out

    def finish(self) -> list[float]:
        torch.cuda.synchronize(self.device)
        return self.collect()

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)


def capture_graph(step: Callable[[], Any], device: torch.device, warmup_calls: int = 3) -> Callable[[], None]:
    """Capture ``step`` (which must only read static tensors) into a CUDA graph; returns its ``replay``.

    Warm-up and capture use the same side stream, so that library handles (cuBLAS workspaces, cuDNN
    plans) are created before capture, where creating them is not allowed. The captured output is kept
    referenced for as long as the replay function lives.
    """
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(warmup_calls):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=side):
        static_output = step()

    def replay() -> None:
        graph.replay()

    replay.static_output = static_output  # type: ignore[attr-defined]
    return replay


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> int | None:
    """Peak allocated bytes since the last reset on CUDA; ``None`` on CPU (no allocator statistics)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.max_memory_allocated(device))


def release_memory(device: torch.device) -> None:
    """After an out-of-memory error: give cached blocks back so the next row starts clean."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """``cudnn.benchmark = True`` while benchmarking on CUDA; the previous setting is restored."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def device_header(device: torch.device) -> dict[str, Any]:
    """Device name, capability, memory and the CUDA/cuDNN/TF32 settings in effect (CUDA only)."""
    props = torch.cuda.get_device_properties(device)
    return {
        "device_name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "device_memory_bytes": int(props.total_memory),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version(),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
    }
