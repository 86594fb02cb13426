"""``archinspect bench`` through Typer's CliRunner: exit codes, one-line errors, JSON/CSV output, OOM rows."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
import torch

QUICK = ["--device", "cpu", "--threads", "1", "--no-peak", "--warmup", "1", "--warmup-time", "0"]
QUICK += ["--iters", "3", "--min-time", "0", "--max-time", "0.1"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where CUDA is absent")
def test_cuda_without_cuda_exits_2_with_one_line(cli):
    res = cli("bench", "--device", "cuda")
    assert res.exit_code == 2 and res.stdout == ""
    why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
    assert res.stderr == (
        f"error: --device 'cuda': CUDA is not available ({why}); use --device 'cpu' or --device 'auto'\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchnet"], "error: unknown model 'nosuchnet'"),
        (["resnet20", "--batch", "1,x"], "error: --batch '1,x': expected positive whole numbers"),
        (["resnet20", "--device", "cpu", "--cuda-graph"], "error: --cuda-graph needs a CUDA device"),
        (
            ["resnet20", "--device", "cpu", "--dtype", "int8"],
            "error: --dtype 'int8': accepted: float32, float16, bfloat16",
        ),
        (["resnet20", "--device", "meta"], "error: --device 'meta' cannot be timed"),
        (
            ["resnet20", "nosuchnet", "--device", "cpu"],
            "error: unknown model 'nosuchnet'",
        ),  # before any timing
    ],
)
def test_usage_errors_exit_2(cli, args, message):
    res = cli("bench", *args)
    assert res.exit_code == 2
    assert res.stderr.startswith(message) and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_json_sweep_of_a_zoo_model(cli):
    res = cli("bench", "resnet20", "--batch", "1,2", "--format", "json", *QUICK)
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["environment"]["threads"] == 1 and d["environment"]["device"] == "cpu"
    assert d["peak"] is None and d["settings"]["batch_sizes"] == [1, 2]
    assert [(r["model"], r["batch"]) for r in d["rows"]] == [("resnet20", 1), ("resnet20", 2)]
    assert [r["flops_per_batch"] for r in d["rows"]] == [2 * 40_551_040, 4 * 40_551_040]  # the zoo's MACs × 2
    assert all(r["n_samples"] == len(r["samples_ms"]) >= 1 for r in d["rows"])


def test_csv_to_file(cli, tmp_path):
    out = tmp_path / "bench.csv"
    res = cli("bench", "resnet20", "--format", "csv", "--output", str(out), *QUICK)
    assert res.exit_code == 0 and f"wrote {out}" in res.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1 and rows[0]["model"] == "resnet20" and float(rows[0]["median_ms"]) > 0


OOM_NET = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.device.type != "meta" and x.shape[0] >= 4:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.fc(x)

class Broken(Net):
    def forward(self, x):
        if x.device.type != "meta" and x.shape[0] >= 2:
            raise ValueError("shape trouble")
        return self.fc(x)
"""


def test_oom_row_reported_sweep_goes_on_exit_0(cli, user_file):
    path = user_file(OOM_NET)
    res = cli("bench", f"{path}:Net", "--input", "1,4", "--batch", "1,4,2", "--format", "markdown", *QUICK)
    assert res.exit_code == 0, res.stderr
    assert "| net.py:Net | 4 | eager | OOM |" in res.stdout
    assert (
        "| net.py:Net | 2 | eager | " in res.stdout
        and "warning: net.py:Net batch 4 eager: batch 4 ran out of memory" in res.stdout
    )
    assert "note: out of memory at net.py:Net batch 4" in res.stderr


def test_failed_row_exits_1(cli, user_file):
    path = user_file(OOM_NET)
    res = cli("bench", f"{path}:Broken", "--input", "1,4", "--batch", "1,2", "--format", "json", *QUICK)
    assert res.exit_code == 1
    rows = json.loads(res.stdout)["rows"]
    assert rows[0]["error"] is None and rows[1]["error"] == "ValueError: shape trouble"
    assert "error: net.py:Broken batch 2 eager: ValueError: shape trouble" in res.stderr


def test_command_module_does_not_import_torch():
    code = "import sys, archinspect.cli, archinspect.cli.bench; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
