"""CUDA paths: event timing, graph replay, dtypes, channels-last, peak memory. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch
from bench_helpers import FAST, Spy, tiny_cnn

import archinspect
from archinspect.bench.cuda import CudaEventTimer, capture_graph
from archinspect.bench.result import OUT_OF_MEMORY

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA_FAST = {**FAST, "device": "cuda", "threads": None}


def test_event_timer_one_sample_per_call_and_device_time():
    dev = torch.device("cuda")
    timer = CudaEventTimer(dev)
    a = torch.randn(1024, 1024, device=dev)
    got: list[float] = []
    for _ in range(20):
        timer.start()
        torch.cuda._sleep(1_000_000)  # a kernel that spins for a fixed number of cycles
        a @ a
        timer.stop()
        got.extend(timer.collect())
    got.extend(timer.finish())
    assert len(got) == 20 and all(s > 0 for s in got)
    assert max(got) / min(got) < 3  # the same work measures the same on the device


def test_cuda_rows_peak_memory_and_header():
    before = torch.backends.cudnn.benchmark
    res = archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], batch_sizes=[1, 16], **CUDA_FAST)
    assert torch.backends.cudnn.benchmark == before
    env = res.environment
    assert env.device.startswith("cuda") and env.cuda_version == torch.version.cuda
    assert env.cudnn_version == torch.backends.cudnn.version() and env.tf32_matmul is not None
    assert env.cudnn_benchmark is True
    for row in res.rows:
        assert row.ok and row.peak_memory_bytes > 0
    assert res.rows[1].peak_memory_bytes >= res.rows[0].peak_memory_bytes


def test_cuda_graph_replay_beside_eager():
    res = archinspect.benchmark(tiny_cnn(), [(4, 3, 8, 8)], cuda_graph=True, **CUDA_FAST)
    assert [r.variant for r in res.rows] == ["eager", "cuda-graph"]
    assert all(r.ok for r in res.rows)


def test_capture_graph_replays_the_same_computation():
    dev = torch.device("cuda")
    model = tiny_cnn().to(dev).eval()
    x = torch.randn(2, 3, 8, 8, device=dev)
    out: list[torch.Tensor] = []
    with torch.inference_mode():
        replay = capture_graph(lambda: out.append(model(x)), dev)
        replay()
        torch.cuda.synchronize()
        assert torch.allclose(out[-1], model(x))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_dtypes_and_channels_last(dtype):
    spy = Spy()
    res = archinspect.benchmark(spy, [(2, 3, 8, 8)], dtype=dtype, channels_last=True, copy_model=False, **CUDA_FAST)
    assert res.rows[0].ok and res.peak is None
    assert all(s["dtype"] == getattr(torch, dtype) and s["channels_last"] for s in spy.seen)


def test_amp_and_peak_in_same_dtype():
    res = archinspect.benchmark(tiny_cnn(), [(2, 3, 8, 8)], amp=True, **{**CUDA_FAST, "peak": True})
    assert res.rows[0].dtype == "float16" and res.peak.dtype == "float16"
    assert res.rows[0].peak_fraction == pytest.approx(res.rows[0].achieved_tflops / res.peak.tflops)


def test_real_out_of_memory_row_then_sweep_goes_on():
    free, _ = torch.cuda.mem_get_info()
    huge = int(free // (3 * 64 * 64 * 4)) * 4  # inputs alone four times the free memory
    res = archinspect.benchmark(tiny_cnn(), [(1, 3, 64, 64)], batch_sizes=[huge, 2], **CUDA_FAST)
    assert res.rows[0].error == OUT_OF_MEMORY and res.rows[1].ok
