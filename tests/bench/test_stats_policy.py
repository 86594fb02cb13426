"""Statistics, the warm-up policy and the stopping rule: exact numbers, a scripted clock, a real model."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archinspect.bench.policy import MAX_ITERS, MAX_TIME, STABLE, StopPolicy, WarmupPolicy
from archinspect.bench.stats import percentile, relative_iqr, summarize
from archinspect.bench.timing import PerfCounterTimer, measure, sample, warm_up


def test_percentiles_interpolate_linearly():
    s = [float(i) for i in range(1, 11)]
    assert percentile(s, 0) == 1.0
    assert percentile(s, 10) == pytest.approx(1.9)
    assert percentile(s, 25) == pytest.approx(3.25)
    assert percentile(s, 50) == pytest.approx(5.5)
    assert percentile(s, 75) == pytest.approx(7.75)
    assert percentile(s, 90) == pytest.approx(9.1)
    assert percentile(s, 100) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_summarize_matches_torch_quantile():
    samples = [0.010, 0.012, 0.011, 0.030, 0.009, 0.0105, 0.0111]
    st = summarize(samples)
    q = torch.quantile(torch.tensor(samples, dtype=torch.float64), torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9]).double())
    assert [st.p10, st.p25, st.median, st.p75, st.p90] == pytest.approx(q.tolist())
    assert st.n == 7 and st.min == 0.009 and st.max == 0.030
    assert st.mean == pytest.approx(sum(samples) / 7)
    assert st.rel_iqr == pytest.approx((q[3] - q[1]).item() / q[2].item())


def test_relative_iqr_exact_and_degenerate():
    assert relative_iqr([float(i) for i in range(1, 11)]) == pytest.approx(4.5 / 5.5)
    assert relative_iqr([2.0]) == 0.0
    assert relative_iqr([0.0, 0.0]) == math.inf
    st = summarize([5.0])
    assert (st.median, st.p10, st.p90, st.iqr) == (5.0, 5.0, 5.0, 0.0)
    with pytest.raises(ValueError):
        summarize([])


def test_warmup_needs_count_and_time_capped_by_max_time():
    p = WarmupPolicy(min_iters=5, min_time=0.5, max_time=5.0)
    assert not p.done(4, 0.9)  # time reached, count not
    assert not p.done(5, 0.4)  # count reached, time not
    assert p.done(5, 0.5)
    assert not p.done(1, 6.0)  # a slow model still gets two calls
    assert p.done(2, 6.0)
    assert WarmupPolicy(min_iters=0, min_time=0.0).done(0, 0.0)  # --warmup 0 means none


class FakeClock:
    """A clock that each step of the model advances by a scripted duration."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 0.0
        self.durations = durations
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1


def test_warm_up_runs_until_both_count_and_time():
    clock = FakeClock([0.125])
    n, t = warm_up(clock.step, PerfCounterTimer(clock), WarmupPolicy(5, 1.0, 5.0), clock)
    assert (n, t, clock.calls) == (8, 1.0, 8)  # time decides: 8 × 0.125 s
    clock = FakeClock([0.125])
    n, t = warm_up(clock.step, PerfCounterTimer(clock), WarmupPolicy(5, 0.25, 5.0), clock)
    assert (n, t) == (5, 0.625)  # count decides


def test_steady_samples_stop_as_stable_at_min_time():
    clock = FakeClock([0.125])
    m = sample(clock.step, PerfCounterTimer(clock), StopPolicy(4, 1000, 1.0, 10.0, 0.05), clock)
    assert (m.stopped_by, len(m.samples)) == (STABLE, 8)
    assert m.samples == [0.125] * 8


def test_noisy_samples_stop_at_max_time_and_all_are_kept():
    clock = FakeClock([0.125, 0.25])  # IQR/median far above 5 %
    m = sample(clock.step, PerfCounterTimer(clock), StopPolicy(4, 1000, 1.0, 3.0, 0.05), clock)
    assert m.stopped_by == MAX_TIME
    assert len(m.samples) == 16 == clock.calls  # 8 pairs of 0.375 s = 3.0 s
    assert m.samples[:4] == [0.125, 0.25, 0.125, 0.25]


def test_count_cap_and_the_policy_rules():
    clock = FakeClock([0.125, 0.25])
    m = sample(clock.step, PerfCounterTimer(clock), StopPolicy(4, 7, 0.0, 100.0, 0.05), clock)
    assert (m.stopped_by, len(m.samples)) == (MAX_ITERS, 7)
    p = StopPolicy(min_iters=3, max_iters=100, min_time=1.0, max_time=10.0, target_rel_iqr=0.05)
    assert not p.stable([1.0, 1.0, 1.0], elapsed=0.5)  # too early
    assert not p.stable([1.0, 1.0], elapsed=1.0)  # too few
    assert p.stable([1.0, 1.0, 1.0], elapsed=1.0)
    assert not p.stable([1.0, 2.0, 3.0], elapsed=1.0)  # IQR/median 0.5
    assert p.capped(3, elapsed=9.9) is None
    assert p.capped(3, elapsed=10.0) == MAX_TIME
    assert p.capped(100, elapsed=1.0) == MAX_ITERS
    with pytest.raises(ValueError):
        StopPolicy(min_iters=10, max_iters=5)


def test_real_model_every_call_is_warm_up_or_a_sample():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 10)).eval()
    x = torch.randn(2, 3, 16, 16)
    calls = 0

    def step() -> None:
        nonlocal calls
        calls += 1
        with torch.inference_mode():
            model(x)

    m = measure(step, PerfCounterTimer(), WarmupPolicy(3, 0.02, 1.0), StopPolicy(5, 500, 0.05, 0.5, 0.05))
    assert m.warmup_iters >= 3 and m.warmup_time >= 0.02
    assert calls == m.warmup_iters + len(m.samples)
    assert len(m.samples) >= 5 or m.stopped_by == MAX_TIME
    assert m.stopped_by in (STABLE, MAX_TIME, MAX_ITERS)
    assert all(0 < s < 0.5 for s in m.samples)
    assert m.sampling_time >= sum(m.samples)


def test_unstable_only_when_the_budget_cut_the_minimum() -> None:
    from archinspect.bench.policy import MAX_ITERS, MAX_TIME, STABLE, unstable

    assert unstable(MAX_TIME, 3, 10)
    assert not unstable(MAX_TIME, 10, 10)
    assert not unstable(STABLE, 3, 10) and not unstable(MAX_ITERS, 3, 10)
    assert not unstable(MAX_TIME, 3, None)


def test_oversubscription_remedy_fits_the_options() -> None:
    from archinspect.bench.policy import oversubscription

    default = oversubscription(2, 3.5, 2, None)
    assert default == (
        "machine busy (load average 3.50 on 2 CPUs, about 0 free) for 2 thread(s): timings will be slow and noisy; "
        "try --threads 1 (each thread waits for the slowest)"
    )
    one = oversubscription(2, 3.5, 1, 1)
    assert one is not None and "try --threads" not in one and "--threads 1 is already the least contention" in one
    assert oversubscription(8, 6.5, 4, 4) is not None and "try --threads 2" in oversubscription(8, 6.5, 4, 4)
    assert oversubscription(8, 1.0, 4, None) is None  # 7 free cores for 4 threads
    assert oversubscription(2, 1.2, 2, None) is not None  # load fine, but 2 threads on about 1 free core
    assert oversubscription(8, 9.5, 4, None, cpu_run=False).endswith("wait for an idle machine")
    assert oversubscription(8, 6.0, 4, None, cpu_run=False) is None
    assert oversubscription(None, 3.0, 2, None) is None and oversubscription(2, None, 2, None) is None
