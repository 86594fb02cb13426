"""``profile``: the verdict arithmetic, the observers (exact bytes, exact times on a fake clock), folding, the
whole run's structure and invariants, the train step, the roofline SVG and the CLI. Timing comparisons with
other tools (10 % bounds) live in benchmarks/, not here: these tests must not depend on a quiet machine."""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET
from itertools import count

import pytest
import torch
from torch import nn

from archinspect.bench import profile as profile_mod
from archinspect.bench.clock import HostClock
from archinspect.bench.observers import op_traffic
from archinspect.bench.profile import counted_pass, own_seconds, profile, timed_pass
from archinspect.bench.result import PeakResult
from archinspect.bench.roofs import Ceilings
from archinspect.bench.verdict import BELOW, COMPUTE, IDLE, MEMORY, OVERHEAD, Roofs, judge
from archinspect.core.target import Target

CPU = torch.device("cpu")

ROOFS = Roofs(flops_per_s=1e11, bytes_per_s=1e10, call_s=1e-5)  # ridge at 10 FLOP/B, 10 µs per call
FIXED = Ceilings("cpu", "float32", PeakResult("float32", 1000, 0.02, 0.01, 10), 10**9, 0.1, 0.01, 1e-5)


# --- verdicts on controlled numbers --------------------------------------------------------------------


def test_a_large_matmul_like_layer_near_the_compute_roof_is_compute_bound():
    v = judge(0.012, flops=1e9, nbytes=1e6, calls=1, roofs=ROOFS)  # roof 10 ms (compute), took 12 ms
    assert v.verdict == COMPUTE and v.bound_by == "compute"
    assert v.compute_s == pytest.approx(0.01) and v.memory_s == pytest.approx(1e-4)
    assert v.roof_fraction == pytest.approx(0.01 / 0.012) and v.saving_s == pytest.approx(0.002)
    assert v.intensity == pytest.approx(1000.0) and v.achieved_flops_per_s == pytest.approx(1e9 / 0.012)


def test_an_elementwise_op_on_a_large_tensor_near_the_copy_bandwidth_is_memory_bound():
    v = judge(0.03, flops=2.5e7, nbytes=2e8, calls=1, roofs=ROOFS)  # memory roof 20 ms
    assert v.verdict == MEMORY and v.bound_by == "memory" and v.saving_s == pytest.approx(0.01)


def test_a_tiny_layer_is_overhead_bound_and_a_weak_kernel_is_below_its_roof():
    tiny = judge(2e-5, flops=10, nbytes=80, calls=1, roofs=ROOFS)
    assert tiny.verdict == OVERHEAD and tiny.saving_s == pytest.approx(1e-5)  # down to the fixed 10 µs
    weak = judge(0.05, flops=1e9, nbytes=1e6, calls=1, roofs=ROOFS)  # roof 10 ms, took 50 ms
    assert weak.verdict == BELOW and weak.saving_s == pytest.approx(0.04)
    many = judge(2.5e-4, flops=100, nbytes=800, calls=100, roofs=ROOFS)  # 100 calls: 1 ms of fixed cost
    assert many.verdict == OVERHEAD and many.saving_s == 0.0
    assert judge(0.0, 0, 0, 1, ROOFS).verdict == IDLE
    assert judge(1e-3, 0, 0, 1, ROOFS).verdict == OVERHEAD  # no work at all but time: a container's own Python


def test_a_gap_is_explained_by_what_the_instrumentation_left_or_by_interruptions():
    from archinspect.bench.profile_report import Reconciliation
    from archinspect.bench.stats import summarize

    def rec(module_sum: float, pass_sum: float, instrumented: float) -> Reconciliation:
        return Reconciliation(summarize([100.0]), summarize([instrumented]), module_sum, summarize([pass_sum]), 1.0, 11)

    assert rec(105.0, 105.0, 110.0).reconciled  # +5 %
    above = rec(130.0, 130.0, 140.0)  # +30 %: the hooks added 40, the calibration removed 10: 30 left
    assert not above.reconciled and above.left_s == 30.0 and above.explained
    assert not rec(150.0, 150.0, 140.0).explained  # +50 %, only 30 left by the hooks (+10 tolerance)
    below = rec(60.0, 101.0, 120.0)  # -40 %: a pass sums to 101, per-module medians skip 41 of interruptions
    assert below.interruption_s == 41.0 and below.explained and not rec(60.0, 70.0, 120.0).explained


# --- the observers -------------------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x)) + 1  # the add is the block's own operator


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.block(x)).flatten(1))


def test_traffic_is_every_operator_s_inputs_weights_and_outputs():
    x = torch.randn(2, 3, 8, 8)
    report, traffic = counted_pass(Target.of(Net(), [x]), CPU, contextlib.nullcontext)
    recs = report.records
    by = {r.name: r for r in recs}
    for r in recs:  # the traffic as record fields, to read the assertions below
        r.bytes_read, r.bytes_written = traffic.of(r.index).read, traffic.of(r.index).written
    assert [r.name for r in recs] == ["", "block", "block.conv", "block.act", "pool", "fc"]
    act = 2 * 4 * 8 * 8 * 4  # bytes of the conv's output
    assert by["block.conv"].bytes_read == x.numel() * 4 + (4 * 3 * 9 + 4) * 4
    assert by["block.conv"].bytes_written == act and by["block.conv"].macs == 2 * 4 * 64 * 27
    assert (by["block.act"].bytes_read, by["block.act"].bytes_written) == (act, act)
    assert (by["block"].bytes_read, by["block"].bytes_written) == (act, act)  # its own add (the scalar is no tensor)
    assert by["block"].other_ops == 4 * 64 * 2 and by["block"].children == [2, 3]
    assert by[""].bytes_read == by[""].bytes_written == 0  # flatten is a view: no bytes
    assert by["fc"].macs == 2 * 4 * 2 and traffic.outside.ops == 0


def test_views_move_nothing_and_in_place_reads_and_writes():
    t = torch.randn(4, 4)
    assert op_traffic(torch.ops.aten.view.default, (t, [16]), {}, t.view(16)) == (0, 0)
    assert op_traffic(torch.ops.aten.relu_.default, (t,), {}, t) == (64, 64)
    assert op_traffic(torch.ops.aten.add.Tensor, (t, t), {}, t + t) == (64, 64)  # the same tensor read once


def test_timer_marks_every_call_and_own_time_removes_children_and_their_instrumentation():
    ticks = count(0, 1000)  # each mark 1 µs after the previous one
    clock = HostClock(now=lambda: next(ticks))
    recs, seconds = timed_pass(Target.of(Net(), [torch.randn(1, 3, 4, 4)]), CPU, clock, contextlib.nullcontext)
    # marks in call order: enter "", enter block, enter conv, leave conv, enter act, leave act, leave block, ...
    assert seconds == pytest.approx({0: 11e-6, 1: 5e-6, 2: 1e-6, 3: 1e-6, 4: 1e-6, 5: 1e-6})
    own, raw = own_seconds(recs, seconds, hook_s=0.5e-6)
    assert raw == pytest.approx([11e-6 - 7e-6, 3e-6, 1e-6, 1e-6, 1e-6, 1e-6])
    assert own == pytest.approx([4e-6 - 1.5e-6, 3e-6 - 1e-6, 1e-6, 1e-6, 1e-6, 1e-6])
    assert sum(raw) == pytest.approx(seconds[0])  # own times telescope to the root's


# --- the whole run --------------------------------------------------------------------------------------


@pytest.fixture
def quick(monkeypatch):
    """Fixed ceilings (no 10 s of measuring) and short timing policies."""
    monkeypatch.setattr(profile_mod, "measure_ceilings", lambda dev, dt, peak=None, clock="wall": FIXED)
    return dict(device="cpu", threads=1, warmup=1, warmup_time=0.0, iters=3, min_time=0.0, max_time=0.2)


def test_profile_reconciles_its_own_figures_and_leaves_the_model_alone(quick):
    model = Net().train()
    weight = model.block.conv.weight.detach().clone()
    r = profile(model, [(2, 3, 16, 16)], repeats=3, warmup_passes=1, depth=1, **quick)
    assert model.training and torch.equal(model.block.conv.weight, weight)
    assert not model._forward_hooks and not model.block.conv._forward_pre_hooks
    assert [m.name for m in r.records] == ["", "block", "block.conv", "block.act", "pool", "fc"]
    assert r.records[2].macs == 2 * 4 * 256 * 27  # the counter's figure
    rec = r.reconciliation
    assert rec.calls == 6 and rec.plain.n >= 1 and rec.instrumented.n == 3
    assert r.ceilings.call_in_pass_s > 0 and r.ceilings.fixed_s >= FIXED.call_s  # a tiny call timed in the pass
    assert rec.module_sum_s == pytest.approx(sum(m.self_s for m in r.records))
    assert rec.pass_sums.n == 3 and rec.interruption_s == pytest.approx(rec.pass_sums.median - rec.module_sum_s)
    assert all(0 <= m.self_s <= m.raw_self_s + 1e-12 or m.children for m in r.records)
    rows = r.rows(1)
    assert [row.record.name for row in rows] == ["", "block", "pool", "fc"]
    assert rows[1].calls == 3 and rows[1].flops == sum(m.flops for m in r.subtree(1))
    assert [m.ops for m in r.subtree(1)] == [1, 1, 1]  # block's add, conv's convolution, act's relu
    assert rows[1].verdict.fixed_s == pytest.approx(3 * r.ceilings.fixed_s)  # one fixed cost per operator
    assert sum(row.seconds for row in rows) == pytest.approx(r.total_s)  # folding keeps every second once
    assert sum(row.share for row in rows) == pytest.approx(1.0)
    saves = [row.verdict.saving_s for row in r.ranked(1)]
    assert saves == sorted(saves, reverse=True)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["schema"] == "archinspect.profile/1" and d["settings"]["batch"] == 2
    assert {"gap_ms", "hook_overhead_us_per_call", "predicted_overhead_ms"} <= set(d["reconciliation"])
    assert d["ceilings"]["ridge_flops_per_byte"] == pytest.approx(FIXED.ridge)


def test_roofline_svg_draws_one_dot_per_shown_leaf_and_both_roofs(quick):
    r = profile(Net(), [(2, 3, 16, 16)], repeats=2, warmup_passes=0, depth=2, **quick)
    svg = r._repr_svg_()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    drawn = [c for c in root.iter(ns + "circle") if c.find(ns + "title") is not None]
    from archinspect.bench.roofline import points

    assert len(drawn) == len(points(r)) > 0
    assert "matmul " in svg and "copy " in svg and len(list(root.iter(ns + "polyline"))) == 1


def test_thread_clock_times_cpu_time_and_needs_one_thread(quick):
    from archinspect.errors import UsageError

    r = profile(Net(), [(2, 3, 16, 16)], repeats=2, warmup_passes=0, clock="thread", **quick)
    assert r.settings["timer"] == "thread_time_ns (CPU time of the thread)" and r.reconciliation.plain.n == 2
    with pytest.raises(UsageError, match="use it with threads=1"):
        profile(Net(), [(1, 3, 8, 8)], clock="thread", **{**quick, "threads": 2})
    with pytest.raises(UsageError, match="clock='cpu' is not a clock; accepted: wall, thread"):
        profile(Net(), [(1, 3, 8, 8)], clock="cpu", **quick)


def test_bad_options_are_usage_errors(quick):
    from archinspect.errors import UsageError

    with pytest.raises(UsageError, match="repeats=0"):
        profile(Net(), [(1, 3, 8, 8)], repeats=0, **quick)
    with pytest.raises(UsageError, match="batch=0 must be 1 or more"):
        profile(Net(), [(1, 3, 8, 8)], batch=0, **quick)


def test_train_step_phases_sum_to_the_step_and_the_peak_is_measured_and_predicted():
    from archinspect.bench.train import PHASES, time_train_step

    model = Net()
    r = time_train_step(model, [(4, 3, 16, 16)], device="cpu", threads=1, warmup=1, warmup_time=0.0, iters=3,
                        min_time=0.0, max_time=0.3, optimizer="momentum")  # fmt: skip
    assert list(r.phases) == list(PHASES) and r.step.n == r.phases["forward"].n >= 1
    assert r.loss == "cross_entropy" and r.batch == 4
    assert r.step.median <= sum(r.phases[p].max for p in PHASES) + 1e-12
    assert r.measured_peak_bytes and r.predicted_peak_bytes
    assert 0.5 < r.peak_ratio < 2.0  # a tiny model: the exact 10 % check is in benchmarks/train_step_vs_timer.py
    assert model.block.conv.weight.grad is None  # the copy trained, not the model
    d = r.to_dict()
    assert d["samples_per_s"]["p10"] <= d["samples_per_s"]["median"] <= d["samples_per_s"]["p90"]


def test_cli_profile_json_and_usage_errors(cli, quick, user_file, tmp_path):
    path = user_file(
        """
        import torch.nn as nn
        class Tiny(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                return self.conv(x)
        """
    )
    svg = tmp_path / "r.svg"
    res = cli("profile", f"{path}:Tiny", "--input", "1,3,8,8", "--device", "cpu", "--threads", "1", "--repeats",
              "2", "--max-time", "0.1", "--format", "json", "--roofline", str(svg))  # fmt: skip
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert [row["name"] for row in d["rows"]] == ["", "conv"] and svg.read_text().startswith("<svg")
    bad = cli("profile", f"{path}:Tiny", "--input", "1,3,8,8", "--roofline", "r.png")
    assert bad.exit_code == 2 and bad.stderr == "error: --roofline 'r.png': the picture is written as .svg\n"
    bad = cli("profile", f"{path}:Tiny", "--input", "1,3,8,8", "--checkpoint")
    assert bad.exit_code == 2 and bad.stderr == "error: --checkpoint and --optimizer apply to --mode train\n"


# --- the CUDA self-check's verdicts on fake figures ------------------------------------------------------


def test_self_check_top_modules_allow_ties_between_identical_layers():
    from archinspect.bench.selfcheck import FAIL, PASS, check_module_kernel_times, check_top_modules, same_top

    ours = {"a": 10.0, "b": 9.0, "c": 8.0, "d": 7.0, "e1": 6.0, "e2": 5.9, "f": 1.0}
    kernels = {"a": 10.5, "b": 9.2, "c": 8.1, "d": 6.9, "e1": 5.8, "e2": 6.0, "f": 1.0}
    assert same_top(ours, kernels) == (4, ["e1", "e2"], True)  # e1/e2 swap places: a tie, not a disagreement
    assert check_top_modules("m", ours, kernels).status == PASS
    assert check_top_modules("m", ours, {**kernels, "f": 20.0}).status == FAIL  # f is the slowest for the profiler
    checks = check_module_kernel_times("m", ours, {**kernels, "a": 5.0})
    assert [c.status for c in checks] == [FAIL, PASS, PASS, PASS, PASS]  # a: events 2× the kernels
    assert checks[0].detail == "10000.000 / 5000.000 ms: ratio 2.000 (bounds 0.80-1.25)"
    assert check_module_kernel_times("m", {"x": 1.0}, {})[0].status == FAIL  # no kernel time: nothing seen


def test_on_cuda_the_correction_is_dropped_when_the_gpu_hid_the_hooks():
    from archinspect.bench.profile import _own_times

    recs, _ = timed_pass(Target.of(Net(), [torch.randn(1, 3, 4, 4)]), CPU, HostClock(), contextlib.nullcontext)
    times = [{0: 10.0, 1: 6.0, 2: 2.0, 3: 2.0, 4: 1.0, 5: 1.0}] * 3  # seconds; own times sum to 10
    corrected, notes = _own_times(recs, times, 0.5, [10.0] * 3, torch.device("cuda"))
    assert notes and "hid the instrumentation" in notes[0] and sum(corrected[0][0]) == pytest.approx(10.0)
    on_cpu, notes = _own_times(recs, times, 0.5, [10.0] * 3, CPU)  # synchronous: the hooks always cost time
    assert not notes and sum(on_cpu[0][0]) == pytest.approx(10.0 - 5 * 0.5)
    busy_host, notes = _own_times(recs, times, 0.5, [7.5] * 3, torch.device("cuda"))  # the GPU waited for the host
    assert not notes and sum(busy_host[0][0]) == pytest.approx(7.5)


def test_train_step_with_checkpointing_amp_and_channels_last():
    from archinspect.bench.train import time_train_step

    fast = dict(device="cpu", threads=1, warmup=1, warmup_time=0.0, iters=2, min_time=0.0, max_time=0.2)
    r = time_train_step(Net(), [(4, 3, 16, 16)], checkpoint=True, amp=True, channels_last=True, **fast)
    assert r.settings["checkpoint"] and r.settings["amp_dtype"] == "bfloat16" and r.settings["channels_last"]
    assert r.notes == ["activation checkpointing on 2 top-level module(s)"]  # block and fc hold parameters
    assert "does not model checkpointing" in r.prediction_note and r.measured_peak_bytes > 0
    from archinspect.render.profile import TrainStepView

    text = "\n".join(TrainStepView(r).footer())
    assert "Peak memory: measured" in text and "predicted" in text and "samples/s" in text


def test_profile_view_in_every_format(quick):
    import csv
    import io

    from archinspect.render.profile import ProfileView

    view = ProfileView(profile(Net(), [(2, 3, 16, 16)], repeats=2, warmup_passes=0, depth=1, **quick))
    rows = list(csv.DictReader(io.StringIO(view.csv())))
    assert [r["name"] for r in rows] == ["Net", "block", "pool", "fc"] and rows[1]["depth"] == "1"
    assert set(rows[0]) >= {"time_ms", "verdict", "saving_ms", "flops", "bytes"}
    block = view.report.rows(1)[1]
    assert float(rows[1]["time_ms"]) == pytest.approx(block.seconds * 1e3) and int(rows[1]["flops"]) == block.flops
    md = view.markdown()
    assert md.count("| Layer |") == 2 and "Where reaching the roof saves most" not in md.splitlines()[0]
    footer = "\n".join(view.footer())
    assert "Reconciliation: per-module sum" in footer and "Instrumentation:" in footer
    assert view.json()["rows"][1]["name"] == "block"


def test_a_profile_report_displays_itself_with_its_roofline(quick):
    r = profile(Net(), [(2, 3, 16, 16)], repeats=2, warmup_passes=0, depth=1, **quick)
    assert repr(r).startswith("<ProfileReport Net · cpu · 6 module calls · module sum ")
    bundle = r._repr_mimebundle_()
    assert bundle["image/svg+xml"].startswith("<svg") and "<table" in bundle["text/html"]
    assert "Where reaching the roof saves most" in str(r)
