"""Other counters on the same model and input: their figures equal ours re-added in their rules."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archinspect.analyses.compare import ToolFigure, compare_tools, torchinfo_convention
from archinspect.analyses.flops import FlopReport, count_flops
from archinspect.models.loading import load_model

pytest.importorskip("fvcore")
pytest.importorskip("torchinfo")


def _rows(model: nn.Module, report: FlopReport, *tools: str) -> dict[str, ToolFigure]:
    return {row.tool: row for row in compare_tools(model, report, tools=tools)}


def _fvcore_from_ours(report: FlopReport) -> int:
    """fvcore's 'flops': MACs + BatchNorm (2 per element in eval) + adaptive average pool (1 per input element)."""
    pool = sum(o.other_ops for o in report.ops if o.op == "adaptive_avg_pool2d")
    return report.totals.macs + report.other_ops_of("norm") + pool


@pytest.mark.slow  # three models through fvcore and torchinfo on CPU: about 15 s on 2 cores
@pytest.mark.parametrize(
    ("name", "shape", "fvcore", "torchinfo"),
    [
        # resnet50: BN 22,227,968 + pool 100,352; torchinfo adds fc bias 1,000 + BN weights and biases 53,120
        ("resnet50", (1, 3, 224, 224), 4_111_512_576, 4_089_184_256 + 1_000 + 53_120),
        ("densenet121", (1, 3, 224, 224), 2_865_546_752, None),
        # vgg16: no BatchNorm; adaptive pool 7×7 reads 25,088 elements; conv biases × positions 13,547,520
        ("vgg16", (1, 3, 224, 224), 15_470_264_320 + 25_088, 15_470_264_320 + 13_547_520 + 4_096 + 4_096 + 1_000),
    ],
)
def test_fvcore_and_torchinfo_equal_ours_in_their_conventions(name, shape, fvcore, torchinfo) -> None:
    model = load_model(name, device="meta").model  # materialised on CPU for the tools, no init cost
    report = count_flops(model, [shape])
    rows = _rows(model, report, "fvcore", "torchinfo")
    assert rows["fvcore"].status == "ok" and rows["fvcore"].value == fvcore == _fvcore_from_ours(report)
    assert rows["fvcore"].matches and ("+norm" in rows["fvcore"].reason) == (name != "vgg16")
    assert rows["torchinfo"].matches, rows["torchinfo"]
    if torchinfo is not None:
        assert rows["torchinfo"].value == torchinfo
    assert all(p.device.type == "meta" for p in model.parameters())


def test_torchinfo_equals_our_macs_without_bias_or_norm() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, groups=4, bias=False),
        nn.Flatten(),
        nn.Linear(32 * 15 * 15, 10, bias=False),
    )
    report = count_flops(model, [(2, 3, 32, 32)])
    macs = 2 * (16 * 27 * 32 * 32 + 32 * 4 * 9 * 15 * 15 + 7200 * 10)
    rows = _rows(model, report, "torchinfo", "fvcore", "flop_counter")
    assert report.totals.macs == macs == rows["torchinfo"].value == rows["fvcore"].value
    assert rows["torch FlopCounterMode"].value == 2 * macs
    assert torchinfo_convention(report, model) == macs


class CpuAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(2, 16, 3, 4, 8).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v)


def test_reasons_name_what_each_tool_misses() -> None:
    model = CpuAttention()
    report = count_flops(model, [(2, 16, 32)], device="cpu")
    attention = 2 * 4 * 16 * 16 * 16  # Q·Kᵀ and P·V MACs for 2 × 4 heads, 16 tokens, head dim 8
    assert report.totals.macs == 2 * 16 * 32 * 96 + attention
    rows = _rows(model, report, "flop_counter", "fvcore", "torchinfo")
    torch_row = rows["torch FlopCounterMode"]  # no formula for the fused CPU kernel: counts it as 0
    assert torch_row.value == 2 * (report.totals.macs - attention) and torch_row.matches
    assert "_scaled_dot_product_flash_attention_for_cpu" in torch_row.reason
    assert rows["fvcore"].value == report.totals.macs - attention and rows["fvcore"].matches
    assert "attention" in rows["fvcore"].reason
    assert rows["torchinfo"].value == 2 * 32 * 96 and rows["torchinfo"].matches  # batch × weights only


class OddOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.fc(x))


def test_a_tool_that_fails_or_is_missing_says_so(monkeypatch) -> None:
    model = OddOutput()
    report = count_flops(model, [(3, 8)])
    monkeypatch.setitem(sys.modules, "thop", None)  # as if not installed
    rows = _rows(model, report, "fvcore", "thop", "flop_counter")
    assert rows["fvcore"].value is None and rows["fvcore"].status.startswith("failed: ")
    assert rows["thop"].status == "not installed" and "pip install thop" in rows["thop"].reason
    assert rows["torch FlopCounterMode"].value == 2 * 3 * 8 * 4
    assert [r.tool for r in compare_tools(model, report, tools=())] == ["archinspect", "archinspect"]


def test_the_users_cpu_model_is_left_as_it_was() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = count_flops(model, [(1, 3, 8, 8)])
    rows = _rows(model, report, "fvcore", "torchinfo", "flop_counter", "thop", "ptflops")
    assert rows["fvcore"].matches  # eval BatchNorm, as in our pass, although the model is in train mode
    assert model.training and all(m.training for m in model.modules())
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


class Gated(nn.Module):
    """Two positional inputs and a keyword one: ``fc(x) * fc(y) * gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor, *, gate: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.fc(y) * gate


def test_keyword_and_second_inputs_reach_every_tool() -> None:
    model = Gated()
    report = count_flops(model, [(2, 8), (2, 8)], kwargs={"gate": (2, 4)})
    assert report.keyword_inputs["gate"].shape == (2, 4)
    rows = _rows(model, report, "fvcore", "torchinfo", "flop_counter")
    assert {name: row.status for name, row in rows.items()} == dict.fromkeys(rows, "ok")
    macs = 2 * 2 * 8 * 4  # fc on x and on y: batch 2, 8 -> 4
    assert report.totals.macs == macs
    assert rows["fvcore"].value == macs and rows["fvcore"].matches
    assert rows["torchinfo"].value == macs and rows["torchinfo"].matches  # called once per input: 2 × 64
    assert rows["torch FlopCounterMode"].value == 2 * macs and rows["torch FlopCounterMode"].matches
