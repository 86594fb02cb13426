"""Report rendering from a hand-built result: exact figures in JSON, CSV, Markdown and the rich table."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest
from rich.console import Console

from archinspect.bench.result import OUT_OF_MEMORY, BenchResult, BenchRow, Environment, PeakResult
from archinspect.render.bench import CSV_KEYS, BenchView

ENV = Environment(
    device="cuda:0",
    device_name="Test GPU",
    torch_version="2.13.0",
    python_version="3.11.7",
    platform="Linux x86_64",
    threads=4,
    interop_threads=4,
    float32_matmul_precision="highest",
    cuda_version="12.8",
    cudnn_version=91000,
    tf32_matmul=False,
    tf32_cudnn=True,
    cudnn_benchmark=True,
    compute_capability="9.0",
    device_memory_bytes=80 * 2**30,
    cpu_count=8,
    load_average=9.5,
)
PEAK = PeakResult(dtype="float32", size=4096, median_s=2 * 4096**3 / 50e12, rel_iqr=0.01, n_samples=100)


def make_result() -> BenchResult:
    common = dict(model="resnet50", variant="eager", dtype="float32", amp=False, channels_last=False)
    steady = BenchRow(
        batch=8,
        inputs=["8,3,224,224"],
        samples=[0.010, 0.010, 0.010, 0.010, 0.011, 0.009, 0.010],
        flops=8 * 8_178_000_000,
        peak_tflops=PEAK.tflops,
        peak_memory_bytes=3 * 2**30,
        stopped_by="stable",
        **common,
    )
    noisy = BenchRow(batch=1, inputs=["1,3,224,224"], samples=[1.0, 1.0, 2.0, 2.0, 3.0], flops=8_178_000_000, **common)
    oom = BenchRow(batch=512, inputs=["512,3,224,224"], error=OUT_OF_MEMORY, **common)
    return BenchResult(ENV, PEAK, {"dtype": "float32", "batch_sizes": [1, 8, 512]}, [noisy, steady, oom])


def test_json_carries_every_figure_and_the_header():
    d = BenchView(make_result()).json()
    json.dumps(d)  # serialisable
    assert set(d) == {"schema", "environment", "peak", "settings", "rows", "convention"}
    assert d["schema"] == "archinspect.bench/1"
    assert d["environment"]["device_name"] == "Test GPU" and d["environment"]["cudnn_version"] == 91000
    assert d["environment"]["tf32_matmul"] is False and d["environment"]["threads"] == 4
    assert d["peak"]["tflops"] == pytest.approx(50.0) and d["peak"]["flops"] == 2 * 4096**3
    noisy, steady, oom = d["rows"]
    assert set(steady) == set(CSV_KEYS) | {"samples_ms"}
    assert steady["median_ms"] == pytest.approx(10.0)
    assert steady["p10_ms"] == pytest.approx(9.6) and steady["p90_ms"] == pytest.approx(10.4)
    assert steady["rel_iqr"] == 0.0 and steady["n_samples"] == 7
    assert steady["samples_per_s"] == pytest.approx(800.0)
    assert steady["gflops_per_sample"] == pytest.approx(8.178)
    assert steady["achieved_tflops"] == pytest.approx(6.5424)
    assert steady["peak_fraction"] == pytest.approx(6.5424 / 50)
    assert steady["peak_memory_bytes"] == 3 * 2**30 and steady["warnings"] == [] and steady["unstable"] is False
    assert steady["samples_ms"] == pytest.approx([10, 10, 10, 10, 11, 9, 10])
    assert noisy["rel_iqr"] == pytest.approx(0.5)
    assert noisy["warnings"] == [
        "spread IQR/median 50% is above 10%: noisy machine?",
    ]
    assert oom["error"] == "out of memory" and oom["median_ms"] is None and oom["samples_ms"] == []
    assert oom["warnings"] == ["batch 512 ran out of memory"]


def test_csv_one_line_per_row_raw_numbers():
    rows = list(csv.DictReader(io.StringIO(BenchView(make_result()).csv())))
    assert len(rows) == 3 and list(rows[0]) == list(CSV_KEYS)
    assert float(rows[1]["median_ms"]) == pytest.approx(10.0) and rows[1]["batch"] == "8"
    assert rows[2]["error"] == "out of memory" and rows[2]["median_ms"] == ""


def test_markdown_and_table_show_header_warning_and_oom():
    md = BenchView(make_result()).markdown()
    assert "device: cuda:0 · Test GPU" in md
    assert "CUDA 12.8 · cuDNN 91000" in md and "TF32: matmul off, cuDNN on" in md
    assert "threads: 4 (interop 4) · load average 9.50 on 8 CPUs" in md
    assert "warning: machine busy (load average 9.50 on 8 CPUs): kernel launches wait for a core" in md
    calm = BenchView(dataclasses.replace(make_result(), environment=dataclasses.replace(ENV, load_average=8.0)))
    assert "machine busy" not in calm.markdown()
    fast = dataclasses.replace(make_result().rows[1], peak_tflops=5.0)
    assert fast.warnings == [
        "131% of the matmul peak: the peak run was slowed (see its IQR/median) or this model's kernels beat that matmul"
    ]
    assert "matmul peak: 50.000 TFLOP/s (float32, 4096x4096" in md
    assert "| resnet50 | 8 | eager | 10.000 | 9.600 | 10.400 | 0.0% | 800.0 | 8.178 | 6.542 | 13.1% | 3.00 GiB |" in md
    assert "| 50.0% ! |" in md  # spread above 10 % is flagged
    assert "| resnet50 | 512 | eager | OOM |" in md
    assert "warning: resnet50 batch 1 eager: spread IQR/median 50% is above 10%: noisy machine?" in md
    console = Console(file=io.StringIO(), width=200)
    for item in BenchView(make_result()).rich():
        console.print(item)
    text = console.file.getvalue()
    assert "Test GPU" in text and "OOM" in text and "800.0" in text
