"""``archinspect.benchmark`` on CPU with real timings of tiny models: rows, FLOPs, settings, failures."""

from __future__ import annotations

import re

import pytest
import torch
from bench_helpers import Spy, tiny_cnn
from torch import nn

import archinspect
from archinspect.bench import BenchResult
from archinspect.bench.peak import measure_matmul_peak
from archinspect.bench.policy import StopPolicy, WarmupPolicy
from archinspect.bench.result import OUT_OF_MEMORY
from archinspect.errors import UsageError

QUICK_WARMUP = WarmupPolicy(2, 0.01, 0.1)
QUICK_STOP = StopPolicy(5, 1000, 0.02, 0.2)


def test_sweep_rows_flops_and_derived_figures(fast):
    res = archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], batch_sizes=[1, 4], name="tiny", **fast)
    assert isinstance(res, BenchResult)
    assert [(r.model, r.batch, r.variant) for r in res.rows] == [("tiny", 1, "eager"), ("tiny", 4, "eager")]
    one, four = res.rows
    assert one.flops == 2 * 13_904 and four.flops == 4 * 2 * 13_904
    assert one.gflops_per_sample == four.gflops_per_sample == pytest.approx(27_808 / 1e9)
    assert four.inputs == ["4,3,8,8"]
    for r in res.rows:
        st = r.stats
        assert r.ok and st.n == len(r.samples) >= 1 and r.warmup_iters >= 2
        assert st.p10 <= st.median <= st.p90
        assert r.samples_per_s == pytest.approx(r.batch / st.median)
        assert r.achieved_tflops == pytest.approx(r.flops / st.median / 1e12)
        assert r.peak_fraction is None and r.peak_memory_bytes is None  # no peak asked; CPU has no allocator stats
    assert res.environment.threads == 1 and res.environment.device == "cpu"
    assert res.settings["batch_sizes"] == [1, 4] and res.settings["variants"] == ["eager"]


def test_threads_set_and_restored_model_untouched(fast):
    before = torch.get_num_threads()
    model = tiny_cnn().train()
    weight = model[0].weight.detach().clone()
    res = archinspect.benchmark(model, [(2, 3, 8, 8)], dtype="bfloat16", channels_last=True, **fast)
    assert torch.get_num_threads() == before
    assert res.environment.threads == 1
    assert model.training and model[0].weight.dtype == torch.float32 and model[0].weight.is_contiguous()
    assert torch.equal(model[0].weight, weight)
    assert res.rows[0].dtype == "bfloat16" and res.rows[0].channels_last and res.rows[0].ok


def test_inputs_random_cast_and_inference_mode(fast):
    spy = Spy()
    res = archinspect.benchmark(spy, [(3, 3, 8, 8)], dtype="bfloat16", channels_last=True, copy_model=False, **fast)
    assert res.rows[0].ok and spy.seen and res.rows[0].flops == 2 * 3 * 4 * 27 * 36
    assert all(s["inference"] and s["dtype"] == torch.bfloat16 and s["channels_last"] for s in spy.seen)
    assert all(s["std"] > 0.5 and s["batch"] == 3 for s in spy.seen)  # random normal, never zeros
    spy.seen.clear()
    res = archinspect.benchmark(spy, [(1, 3, 8, 8)], amp=True, copy_model=False, **fast)
    assert res.rows[0].dtype == "bfloat16" and res.rows[0].amp and res.settings["amp_dtype"] == "bfloat16"
    assert all(s["autocast"] and s["dtype"] == torch.float32 for s in spy.seen)


class RaisesAtBatch(nn.Module):
    def __init__(self, limit: int, exc: type[Exception]) -> None:
        super().__init__()
        self.limit, self.exc = limit, exc
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] >= self.limit:
            raise self.exc(f"simulated failure at batch {x.shape[0]}")
        return self.fc(x)


def test_out_of_memory_is_a_row_and_the_sweep_goes_on(fast):
    res = archinspect.benchmark(RaisesAtBatch(4, torch.OutOfMemoryError), [(1, 4)], batch_sizes=[1, 4, 8, 2], **fast)
    assert [r.batch for r in res.rows] == [1, 4, 8, 2]
    assert [r.error for r in res.rows] == [None, OUT_OF_MEMORY, OUT_OF_MEMORY, None]
    assert res.rows[3].ok and not res.rows[1].samples and res.rows[1].stats is None
    assert res.failed == []  # out of memory is a result, not a failure
    assert "batch 4 ran out of memory" in res.rows[1].warnings
    assert res.rows[1].to_dict()["median_ms"] is None


def test_other_errors_are_rows_and_listed_as_failed(fast):
    res = archinspect.benchmark(RaisesAtBatch(2, ValueError), [(1, 4)], batch_sizes=[1, 2], **fast)
    assert res.rows[0].ok
    assert res.rows[1].error == "ValueError: simulated failure at batch 2"
    assert res.failed == [res.rows[1]]


@pytest.mark.slow
def test_compile_time_reported_apart_from_samples(fast):
    res = archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], compile="eager", **fast)
    eager, compiled = res.rows
    assert (eager.variant, compiled.variant) == ("eager", "compiled")
    assert eager.compile_time_s is None and compiled.compile_time_s > 0 and compiled.ok
    assert res.settings["compile_backend"] == "eager"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"device": "cuda"} if not torch.cuda.is_available() else {"device": "cuda:99"}, "device='cuda"),
        ({"device": "meta"}, "device='meta' cannot be timed"),
        ({"device": "tpu"}, "device='tpu' is not a device"),
        ({"dtype": "int8"}, "dtype='int8' is not benchmarked; accepted: float32, float16, bfloat16"),
        ({"batch_sizes": [0]}, "batch_sizes=[0]: batch sizes must be 1 or more"),
        ({"threads": 0}, "threads=0: accepted: a whole number from 1 to"),
        ({"max_time": float("inf")}, "max_time=inf: accepted: a number from 0 to 3600 seconds"),
    ],
)
def test_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match="^" + re.escape(message)) as info:
        archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], peak=False, **kwargs)
    assert "--" not in str(info.value) and info.value.param == next(iter(kwargs))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where CUDA is absent")
def test_cuda_missing_is_one_clear_line():
    with pytest.raises(UsageError) as info:
        archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], device="cuda")
    assert str(info.value).startswith("device='cuda': CUDA is not available")
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match=r"^cuda_graph=True needs a CUDA device \(use device='cuda'\)$"):
        archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], device="cpu", cuda_graph=True)


def test_matmul_peak_same_timer_and_flops():
    peak = measure_matmul_peak(torch.device("cpu"), torch.float32, size=64, warmup=QUICK_WARMUP, stop=QUICK_STOP)
    assert peak.flops == 2 * 64**3 and peak.size == 64 and peak.dtype == "float32"
    assert peak.tflops == pytest.approx(peak.flops / peak.median_s / 1e12)
    assert peak.n_samples >= 1


def test_peak_fraction_uses_the_given_peak(fast):
    peak = measure_matmul_peak(torch.device("cpu"), torch.float32, size=64, warmup=QUICK_WARMUP, stop=QUICK_STOP)
    fast["peak"] = peak
    res = archinspect.benchmark(tiny_cnn(), [(1, 3, 8, 8)], **fast)
    row = res.rows[0]
    assert res.peak is peak and row.peak_tflops == peak.tflops
    assert row.peak_fraction == pytest.approx(row.achieved_tflops / peak.tflops)


@pytest.mark.slow
def test_median_agrees_with_torch_utils_benchmark_timer():
    """Our CPU median and torch.utils.benchmark.Timer's for the same model, input and thread count.

    Three alternating rounds, best median of each tool: load from other processes comes in bursts, and a
    burst during one tool's round only must not fail the test. The band is generous (3×) on purpose.
    """
    from torch.utils.benchmark import Timer

    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1)).eval()
    x = torch.randn(1, 3, 32, 32)
    ours, theirs = [], []
    for _ in range(3):
        res = archinspect.benchmark(
            model,
            [(1, 3, 32, 32)],
            threads=1,
            warmup=3,
            warmup_time=0.02,
            iters=10,
            min_time=0.1,
            max_time=0.5,
            peak=False,
        )
        ours.append(res.rows[0].stats.median)
        with torch.inference_mode():
            timer = Timer("model(x)", globals={"model": model, "x": x}, num_threads=1)
            theirs.append(timer.blocked_autorange(min_run_time=0.1).median)
    assert min(theirs) / 3 < min(ours) < min(theirs) * 3, (ours, theirs)


class OnlyUnderInferenceMode(nn.Module):
    """Runs when timed (inference mode) but not in the FLOP counter's pass (no_grad on meta)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_inference_mode_enabled():
            raise RuntimeError("this model only runs under inference mode")
        return self.fc(x)


def test_counter_failure_keeps_the_timing_and_says_why(fast):
    row = archinspect.benchmark(OnlyUnderInferenceMode(), [(1, 4)], **fast).rows[0]
    assert row.ok and row.flops is None and row.achieved_tflops is None and row.gflops_per_sample is None
    assert "this model only runs under inference mode" in row.flops_error
    assert row.warnings[-1].startswith("FLOPs not counted (") and row.to_dict()["flops_per_batch"] is None


def test_peak_memory_is_reset_after_warm_up(fast, monkeypatch):
    # cuDNN autotuning during warm-up allocates trial workspaces: they must not count as the row's peak.
    from archinspect.bench import cuda

    spy = Spy()
    resets: list[int] = []
    monkeypatch.setattr(cuda, "reset_peak_memory", lambda dev: resets.append(len(spy.seen)))
    res = archinspect.benchmark(spy, [(1, 3, 8, 8)], copy_model=False, **fast)
    row = res.rows[0]
    assert row.warmup_iters >= 2 and resets == [row.warmup_iters]
    assert len(spy.seen) == row.warmup_iters + len(row.samples)


def test_matmul_peak_size_is_the_largest_whose_call_stays_under_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from archinspect.bench import peak

    # one multiplication costs n³ / 1e10 s: 512 → 13 ms, 1024 → 107 ms (CPU budget 50 ms)
    monkeypatch.setattr(peak, "_one_call_seconds", lambda a, b, timer: a.shape[0] ** 3 / 1e10)
    assert peak.choose_size(torch.device("cpu"), torch.float32, peak.PerfCounterTimer()) == 512
    monkeypatch.setattr(peak, "_one_call_seconds", lambda a, b, timer: 0.0)
    assert peak.choose_size(torch.device("cpu"), torch.float32, peak.PerfCounterTimer()) == 2048  # the cap
