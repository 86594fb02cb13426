"""Details the peers' own test suites check (fvcore, torchinfo, torch's test_flop_counter.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn as nn

from archinspect import count_flops

NORMS = """
import torch.nn as nn


def gn():
    return nn.GroupNorm(4, 8, affine=False)


def gn_affine():
    return nn.GroupNorm(4, 8)


def ln():
    return nn.LayerNorm([8, 8], elementwise_affine=False)


def ln_affine():
    return nn.LayerNorm([8, 8])
"""


@pytest.mark.parametrize(("symbol", "fvcore"), [("gn", 2048), ("gn_affine", 2560), ("ln", 2048), ("ln_affine", 2560)])
def test_fvcore_norm_rule_predicted(
    cli: Callable[..., Any], user_file: Callable[[str, str], Path], symbol: str, fvcore: int
) -> None:
    """fvcore's norm handle counts 5 per element with an affine weight, 4 without (fvcore/nn/jit_handles.py,
    norm_flop_counter); our count follows the same rule, so the prediction matches."""
    pytest.importorskip("fvcore")
    ref = f"{user_file(NORMS, 'norms.py')}:{symbol}"
    result = cli("flops", ref, "--input", "1,8,8,8", "--compare", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    (row,) = [t for t in doc["compare"] if t["tool"] == "fvcore"]
    assert (row["value"], row["expected_from_ours"], row["matches"]) == (fvcore, fvcore, True)
    assert doc["totals"]["other_ops"] == fvcore


class ScaledMM(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        one = torch.tensor(1.0, device=a.device)
        b8 = b.to(torch.float8_e4m3fn).t().contiguous().t()  # column-major, as _scaled_mm wants
        return torch._scaled_mm(a.to(torch.float8_e4m3fn), b8, scale_a=one, scale_b=one, out_dtype=torch.float32)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_scaled_mm_is_a_matmul(device: str) -> None:
    """torch's test_flop_counter expects 860,160 FLOPs for an FP8 48×80 @ 80×112."""
    if not hasattr(torch, "float8_e4m3fn"):
        pytest.skip("no float8 in this torch")
    report = count_flops(ScaledMM(), [(48, 80), (80, 112)], device=device)
    assert (report.totals.flops, report.totals.macs) == (860_160, 430_080)
    assert [(o.op, o.category, o.macs) for o in report.ops] == [("_scaled_mm", "matmul", 430_080)]


NO_FORWARD = """
import torch.nn as nn


def blocks():
    return nn.ModuleList([nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2)])


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.head = nn.Linear(8, 2)
        self.head.weight.requires_grad_(False)
"""


def test_a_module_without_forward_gets_a_parameter_summary(
    cli: Callable[..., Any], user_file: Callable[[str, str], Path]
) -> None:
    path = user_file(NO_FORWARD, "nofwd.py")
    table = cli("shapes", f"{path}:blocks", "--input", "1,3,8,8")
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].strip() == "nofwd.py:blocks · parameters only (no forward)"
    assert [row.split("│")[3].strip() for row in lines if row.startswith("│")] == ["(258)", "224", "16", "18"]
    assert "Params: 258 (trainable 258, non-trainable 0)" in lines
    doc = json.loads(cli("shapes", f"{path}:Holder", "--format", "json").stdout)  # no input needed
    assert doc["forward"] is False and doc["totals"] == {"params": 242, "trainable_params": 226}
    assert [(layer["name"], layer["params"]) for layer in doc["layers"]] == [
        ("", 0),
        ("enc", 0),
        ("enc.0", 224),
        ("enc.1", 0),
        ("head", 18),
    ]
