"""``benchmarks/cuda_selfcheck.py`` without a GPU: the no-CUDA path, and every verdict and the report on fake
results (the datasheet lookup, the ratio bounds, pytest's summary, the JSON file, the table, the exit code)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archinspect.bench.selfcheck import (
    DATASHEET,
    FAIL,
    PASS,
    SKIP,
    Check,
    SelfCheckReport,
    check_bench_rows,
    check_peak,
    check_pytest,
    check_same_documents,
    diff_documents,
    judge_ratio,
    lookup_datasheet,
    matmul_precision,
    parse_pytest_counts,
    run_step,
)

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cuda_selfcheck.py"


def load_script():
    spec = importlib.util.spec_from_file_location("cuda_selfcheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-CUDA path")
def test_without_cuda_one_line_exit_0_nothing_written(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        f"cuda_selfcheck: CUDA is not available (this torch build has no CUDA; torch {torch.__version__}): nothing run"
    ]
    assert proc.stderr == "" and not out.exists()


@pytest.mark.parametrize(
    ("name", "gpu"),
    [
        ("NVIDIA A100-SXM4-80GB", "A100 (SXM4 and PCIe, 40/80 GB)"),
        ("NVIDIA A100 80GB PCIe", "A100 (SXM4 and PCIe, 40/80 GB)"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA A10", "A10"),
        ("Tesla T4", "T4"),
        ("Tesla V100-SXM2-32GB", "V100 SXM2"),
        ("Tesla V100-PCIE-16GB", "V100 PCIe"),
        ("Tesla V100S-PCIE-32GB", "V100S PCIe"),
        ("NVIDIA GeForce RTX 3090", "GeForce RTX 3090"),
        ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
    ],
)
def test_datasheet_lookup_by_device_name(name, gpu):
    assert lookup_datasheet(name).gpu == gpu


@pytest.mark.parametrize(
    "name", ["NVIDIA A10G", "NVIDIA L40", "NVIDIA H100 NVL", "NVIDIA GeForce RTX 3090 Ti", "NVIDIA B200", "cpu"]
)
def test_lookalike_and_unknown_gpus_are_not_matched(name):
    # A10G is not an A10, L40 not an L4 or L40S, a Ti not the plain card: a wrong figure is worse than none.
    assert lookup_datasheet(name) is None


def test_every_datasheet_entry_states_its_source_and_sane_figures():
    for entry in DATASHEET:
        assert entry.source.startswith("NVIDIA ") and ("datasheet" in entry.source or "whitepaper" in entry.source)
        assert set(entry.tflops) <= {"float32", "tf32", "float16", "bfloat16"} and "float32" in entry.tflops
        assert all(entry.tflops["float32"] <= v for v in entry.tflops.values())
    assert lookup_datasheet("NVIDIA A100-SXM4-40GB").tflops == {
        "float32": 19.5, "tf32": 156.0, "float16": 312.0, "bfloat16": 312.0
    }
    assert lookup_datasheet("NVIDIA H100 PCIe").tflops["bfloat16"] == 756.5  # 1,513 with sparsity, halved


def test_the_documented_datasheet_table_is_the_one_in_the_code():
    doc = (SCRIPT.parents[1] / "docs" / "cuda_selfcheck.md").read_text(encoding="utf-8")
    for e in DATASHEET:
        cells = [f"{e.tflops[k]:g}" if k in e.tflops else "—" for k in ("float32", "tf32", "float16", "bfloat16")]
        pattern = e.pattern.replace("|", "\\|")
        assert f"| {e.gpu} (`{pattern}`) | {' | '.join(cells)} | {e.source} |" in doc


@pytest.mark.parametrize(
    ("dtype", "tf32", "cc", "want"),
    [
        ("float32", True, "8.0", "tf32"),
        ("float32", False, "8.0", "float32"),
        ("float32", True, "7.0", "float32"),  # V100: no TF32 tensor cores, the switch does nothing
        ("float32", None, None, "float32"),
        ("bfloat16", False, "9.0", "bfloat16"),
        ("float16", True, "7.5", "float16"),
    ],
)
def test_matmul_precision(dtype, tf32, cc, want):
    assert matmul_precision(dtype, tf32, cc) == want


def test_peak_fraction_judged_against_the_datasheet():
    ok = check_peak("NVIDIA A100-SXM4-80GB", "tf32", 140.0)
    assert (ok.status, ok.value) == (PASS, pytest.approx(140 / 156))
    assert ok.detail == (
        "140.0 of 156 TFLOP/s (A100 (SXM4 and PCIe, 40/80 GB)): fraction of datasheet 0.897 (bounds 0.25-1.05)"
    )
    # Faster than the datasheet means the timing is wrong; a tenth of it means no tensor cores.
    assert check_peak("NVIDIA A100-SXM4-80GB", "tf32", 200.0).status == FAIL
    assert check_peak("NVIDIA A100-SXM4-80GB", "bfloat16", 31.2).status == FAIL
    assert check_peak("NVIDIA A100-SXM4-80GB", "bfloat16", None).status == FAIL


def test_unknown_gpu_or_missing_figure_is_a_skip_that_says_so():
    unknown = check_peak("NVIDIA B200", "bfloat16", 1500.0)
    assert unknown.status == SKIP and unknown.detail == "unknown GPU 'NVIDIA B200': no datasheet figure in the table"
    t4 = check_peak("Tesla T4", "bfloat16", 20.0)
    assert t4.status == SKIP and t4.detail == "T4: the datasheet gives no bfloat16 figure"


@pytest.mark.parametrize(
    ("value", "status"),
    [(0.9, PASS), (1.0, PASS), (1.1, PASS), (0.899, FAIL), (1.101, FAIL), (None, FAIL), (float("nan"), FAIL)],
)
def test_ratio_judgement_bounds_inclusive(value, status):
    check = judge_ratio("timer", "resnet18 b1", value, (0.9, 1.1), "ratio")
    assert check.status == status and check.bounds == (0.9, 1.1)


def test_ratio_detail_text():
    assert judge_ratio("timer", "x", 1.0234, (0.9, 1.1), "ratio").detail == "ratio 1.023 (bounds 0.90-1.10)"
    assert judge_ratio("timer", "x", None, (0.9, 1.1), "ratio").detail == "ratio: no value"


def test_pytest_summary_counts_and_verdict():
    out = "........ [100%]\n8 passed, 1 skipped, 412 deselected in 12.31s\n"
    assert parse_pytest_counts(out) == {"passed": 8, "skipped": 1, "deselected": 412}
    assert check_pytest(0, out).status == FAIL  # a skip on a CUDA machine means the GPU was not seen
    good = check_pytest(0, "8 passed, 412 deselected in 9.8s")
    assert (good.status, good.detail) == (PASS, "8 passed, 412 deselected")
    assert check_pytest(1, "1 failed, 7 passed, 412 deselected in 9.8s").status == FAIL
    assert check_pytest(1, "7 passed, 2 errors in 3.0s").detail == "7 passed, 2 errors"
    assert check_pytest(5, "no tests ran in 0.5s").detail == "no summary line (exit 5)"


def row(model="resnet18", batch=1, variant="eager", **kw):
    base = {"model": model, "batch": batch, "variant": variant, "median_ms": 1.5, "n_samples": 40,
            "peak_fraction": 0.31, "error": None}
    return {**base, **kw}


def test_bench_rows_each_checked():
    doc = {"rows": [row(), row(variant="cuda-graph", peak_fraction=None), row(batch=32, error="out of memory",
                                                                             n_samples=0, median_ms=None)]}
    checks = check_bench_rows(doc, "tf32")
    assert [(c.name, c.status, c.detail) for c in checks] == [
        ("tf32 resnet18 b1 eager", PASS, "median 1.500 ms, n=40, 31% of peak"),
        ("tf32 resnet18 b1 cuda-graph", PASS, "median 1.500 ms, n=40"),
        ("tf32 resnet18 b32 eager", FAIL, "out of memory"),
    ]
    assert check_bench_rows({"rows": []}, "float32")[0].status == FAIL


def test_documents_compared_apart_from_device_and_notes():
    meta = {"device": "meta", "notes": [], "totals": {"params": 11689512, "macs": 1814083944},
            "layers": [{"name": "conv1", "output_shapes": [[1, 64, 112, 112]]}]}
    cuda = json.loads(json.dumps(meta)) | {"device": "cuda:0", "notes": ["ran on cuda:0"]}
    assert diff_documents(meta, cuda) == []
    assert check_same_documents("devices", "shapes resnet18", meta, cuda, "equal").status == PASS
    cuda["layers"][0]["output_shapes"] = [[1, 64, 111, 111]]
    cuda["totals"]["macs"] += 1
    cuda["extra"] = 1
    assert diff_documents(meta, cuda) == ["extra", "layers[0].output_shapes[0][2]", "layers[0].output_shapes[0][3]",
                                          "totals.macs"]
    check = check_same_documents("devices", "shapes resnet18", meta, cuda)
    assert check.status == FAIL
    assert check.detail == "differs at extra, layers[0].output_shapes[0][2], layers[0].output_shapes[0][3] (+1 more)"
    assert diff_documents([1, 2], [1]) == ["[len 2 != 1]"]


def fake_report() -> SelfCheckReport:
    report = SelfCheckReport()
    report.add(
        Check("environment", "GPU visible", PASS, "NVIDIA L4"),
        judge_ratio("timer", "resnet18 b1 ours/Timer", 1.02, (0.9, 1.1), "ratio"),
        Check("memory", "predicted peak", SKIP, "skipped: memory command not available"),
    )
    report.data["environment"] = {"gpu": "NVIDIA L4"}
    report.seconds.update({"environment": 0.4, "timer": 12.2})
    return report


def test_report_all_holding_json_table_exit_0(tmp_path):
    report = fake_report()
    assert report.ok and report.exit_code == 0
    path = tmp_path / "cuda_selfcheck.json"
    report.write_json(path)
    doc = json.loads(path.read_text())
    assert doc["schema"] == "archinspect.cuda_selfcheck/1" and doc["ok"] is True
    assert doc["counts"] == {"pass": 2, "FAIL": 0, "skip": 1}
    assert doc["checks"][1] == {"step": "timer", "name": "resnet18 b1 ours/Timer", "status": "pass",
                                "detail": "ratio 1.020 (bounds 0.90-1.10)", "value": 1.02, "bounds": [0.9, 1.1]}
    assert doc["data"] == {"environment": {"gpu": "NVIDIA L4"}} and doc["seconds"]["timer"] == 12.2
    assert report.table().splitlines() == [
        "step         result  check                   detail",
        "---------------------------------------------------",
        "environment  pass    GPU visible             NVIDIA L4",
        "timer        pass    resnet18 b1 ours/Timer  ratio 1.020 (bounds 0.90-1.10)",
        "memory       skip    predicted peak          skipped: memory command not available",
        "ALL CHECKS HOLD: 2 passed, 0 failed, 1 skipped; time: environment 0 s, timer 12 s",
    ]


def test_one_failed_check_makes_exit_1():
    report = fake_report()
    report.add(judge_ratio("timer", "vgg16 b32 ours/Timer", 1.31, (0.9, 1.1), "ratio"))
    assert not report.ok and report.exit_code == 1
    assert report.to_dict()["counts"] == {"pass": 2, "FAIL": 1, "skip": 1}
    assert "timer        FAIL    vgg16 b32 ours/Timer    ratio 1.310 (bounds 0.90-1.10)" in report.table()
    assert report.table().splitlines()[-1].startswith("SOME CHECKS FAILED: 2 passed, 1 failed, 1 skipped")


def test_nothing_passed_is_not_ok():
    report = SelfCheckReport()
    report.add(Check("memory", "predicted peak", SKIP, "skipped"))
    assert report.exit_code == 1


def test_a_crashing_step_is_a_failed_check_and_the_next_step_runs():
    report = SelfCheckReport()
    ticks = iter([10.0, 12.5, 20.0, 20.25])

    def boom() -> None:
        raise RuntimeError("CUDA error: an illegal memory access\nwas encountered")

    run_step(report, "bench", boom, clock=lambda: next(ticks))
    run_step(report, "timer", lambda: report.add(Check("timer", "t", PASS)), clock=lambda: next(ticks))
    assert [(c.step, c.name, c.status, c.detail) for c in report.checks] == [
        ("bench", "step ran", FAIL, "RuntimeError: CUDA error: an illegal memory access was encountered"),
        ("timer", "t", PASS, ""),
    ]
    assert report.seconds == {"bench": 2.5, "timer": 0.25}
    assert "Traceback" in report.data["bench.traceback"] and report.exit_code == 1


# --- the script's steps that need no GPU -------------------------------------------------------------


def bench_doc(device_name, tf32, cc, peak):
    env = {"device_name": device_name, "tf32_matmul": tf32, "compute_capability": cc}
    return {"environment": env, "peak": peak, "settings": {"batch_sizes": [1, 32]}, "rows": []}


def test_peak_step_reads_each_bench_run():
    script = load_script()
    report = SelfCheckReport()
    report.data["bench"] = {
        "float32": bench_doc("NVIDIA A100-SXM4-80GB", False, "8.0", {"dtype": "float32", "size": 8192, "tflops": 18.9}),
        "tf32": bench_doc("NVIDIA A100-SXM4-80GB", True, "8.0", {"dtype": "float32", "size": 8192, "tflops": 250.0}),
        "bfloat16-amp": bench_doc("NVIDIA A100-SXM4-80GB", False, "8.0", None),
    }
    report.data["bench"]["bfloat16-amp"]["settings"]["peak_error"] = "OutOfMemoryError: CUDA out of memory"
    script.step_peak(report)
    assert [(c.name, c.status) for c in report.checks] == [
        ("matmul peak float32 (float32)", PASS),
        ("matmul peak tf32 (tf32)", FAIL),  # 250 of 156 TFLOP/s: impossible, a timing bug
        ("matmul peak (bfloat16-amp)", FAIL),
    ]
    assert report.checks[0].detail.startswith("8192x8192: 18.9 of 19.5 TFLOP/s")
    assert report.checks[2].detail == "OutOfMemoryError: CUDA out of memory"


def test_memory_step_skips_while_the_command_is_missing():
    import archinspect

    if hasattr(archinspect, "memory"):
        pytest.skip("archinspect.memory exists: the step runs on a GPU")
    report = SelfCheckReport()
    load_script().step_memory(report, ["resnet18"])
    assert [(c.status, c.detail) for c in report.checks] == [(SKIP, "skipped: memory command not available")]


@pytest.mark.slow
def test_timer_step_matches_rows_by_the_models_label_on_cpu():
    # densenet-bc reports as densenet-bc-100: the Timer figure must meet the right bench row.
    import archinspect

    script = load_script()
    res = archinspect.benchmark(
        archinspect.create_model("densenet-bc"), [(1, 3, 32, 32)], device="cpu", name="densenet-bc-100",
        warmup=1, warmup_time=0.0, iters=3, min_time=0.05, max_time=0.3, peak=False,
    )
    report = SelfCheckReport()
    report.data["bench"] = {"float32": res.to_dict(with_samples=False)}
    report.data["bench"]["float32"]["settings"]["batch_sizes"] = [1]
    script.TIMER_MIN_RUN_TIME = 0.1
    script.step_timer(report, ["densenet-bc"], device="cpu")
    (check,) = report.checks
    assert check.name == "densenet-bc-100 b1 ours/Timer" and check.value is not None and check.value > 0
    (entry,) = report.data["timer"]
    assert entry["ours_ms"] == res.rows[0].to_dict()["median_ms"] and entry["ratio"] == check.value


@pytest.mark.slow
def test_devices_step_compares_a_command_on_cpu_with_meta():
    report = SelfCheckReport()
    load_script().step_devices(report, "cpu", ["d2l-alexnet"], ["shapes"])
    (check,) = report.checks
    assert (check.name, check.status) == ("shapes d2l-alexnet cpu = meta", PASS)
    assert check.detail.startswith("equal: params ")
