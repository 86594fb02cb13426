"""``archinspect diff``: the two examples' exact figures, stage matching, formats and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

import archinspect
from archinspect.analyses.diff import ModelDiff

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FACTORIZED = str(EXAMPLES / "factorized_conv.py")
BOTTLENECK = str(EXAMPLES / "bottleneck.py")


def _json(cli: Any, *args: str) -> dict[str, Any]:
    result = cli("diff", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_one_5x5_costs_25_18ths_of_two_3x3_with_the_same_field(cli: Any) -> None:
    doc = _json(cli, f"{FACTORIZED}:Conv5x5", f"{FACTORIZED}:TwoConv3x3", "--input", "1,64,56,56")
    total = doc["total"]
    assert total["a"]["params"] == 25 * 64 * 64 == 102_400
    assert total["b"]["params"] == 18 * 64 * 64 == 73_728
    assert total["a"]["macs"] == 321_126_400 and total["b"]["macs"] == 231_211_008
    assert total["macs_ratio"] == total["params_ratio"] == 25 / 18
    assert total["a"]["rf"]["size"] == total["b"]["rf"]["size"] == [5, 5]
    assert total["a"]["output_shape"] == total["b"]["output_shape"] == [1, 64, 56, 56]
    # Stage 1 is the 5×5 beside the first 3×3 alone: the notes' 25/9 ≈ 2.78×, with a field of 3, not 5.
    first = doc["stages"][0]
    assert (first["a"]["name"], first["b"]["name"]) == ("conv", "conv1")
    assert first["macs_ratio"] == 25 / 9
    assert first["a"]["rf"]["size"] == [5, 5] and first["b"]["rf"]["size"] == [3, 3]
    assert [s["a"] is None for s in doc["stages"]] == [False, False, True, True]


def test_the_notes_2_78_is_one_5x5_against_one_3x3(cli: Any) -> None:
    doc = _json(cli, f"{FACTORIZED}:Conv5x5", f"{FACTORIZED}:OneConv3x3", "--input", "1,64,56,56")
    assert doc["total"]["macs_ratio"] == 25 / 9
    assert doc["total"]["b"]["macs"] == 115_605_504
    assert (doc["total"]["a"]["rf"]["size"], doc["total"]["b"]["rf"]["size"]) == ([5, 5], [3, 3])


def test_bottleneck_against_a_3x3_on_256_channels(cli: Any) -> None:
    doc = _json(cli, f"{BOTTLENECK}:Conv3x3On256", f"{BOTTLENECK}:Bottleneck", "--input", "1,256,56,56")
    total = doc["total"]
    assert total["a"]["params"] == 9 * 256 * 256 == 589_824
    assert total["b"]["params"] == 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632
    assert total["a"]["macs"] == 1_849_688_064 and total["b"]["macs"] == 218_365_952
    assert total["params_ratio"] == total["macs_ratio"] == 144 / 17
    assert total["a"]["rf"]["size"] == total["b"]["rf"]["size"] == [3, 3]
    assert [s["b"]["name"] for s in doc["stages"]] == ["reduce", "relu1", "conv", "relu2", "expand", "relu3"]
    assert [s["b"]["rf"]["size"][0] for s in doc["stages"]] == [1, 1, 3, 3, 3, 3]


def test_table_shows_ratios_and_fields(cli: Any) -> None:
    result = cli("diff", f"{FACTORIZED}:Conv5x5", f"{FACTORIZED}:TwoConv3x3", "--input", "1,64,56,56")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "A/B: params 1.389× (102,400 / 73,728) · MACs 1.389× (321,126,400 / 231,211,008)" in out
    assert "receptive field 5×5 /1×1 vs 5×5 /1×1" in out
    assert "Stages: the modules at depth 1 in call order, matched by position" in out
    csv_out = cli("diff", f"{FACTORIZED}:Conv5x5", f"{FACTORIZED}:TwoConv3x3", "-i", "1,64,56,56", "-f", "csv")
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("stage,a_name,b_name,a_shape,b_shape,a_params,b_params,params_ratio")
    assert lines[-1].startswith("total,")


def test_zoo_models_at_their_default_inputs_and_deeper_stages(cli: Any) -> None:
    doc = _json(cli, "resnet18", "resnet34")
    assert [s["a"]["name"] for s in doc["stages"][:5]] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    layer4 = doc["stages"][7]
    assert layer4["a"]["name"] == layer4["b"]["name"] == "layer4"
    # By hand: conv1 7 (j 2), maxpool 11 (j 4). resnet18: layer1 4 convs × 2·4 → 43; layer2 +2·4 (j 8) + 3 × 2·8
    # → 99; layer3 +2·8 (j 16) + 3 × 2·16 → 211; layer4 +2·16 (j 32) + 3 × 2·32 → 435. resnet34 (3, 4, 6, 3
    # blocks): 11 + 6·8 = 59; +8 + 7·16 = 179; +16 + 11·32 = 547; +32 + 5·64 = 899.
    assert layer4["a"]["rf"]["size"] == [435, 435] and layer4["b"]["rf"]["size"] == [899, 899]
    assert doc["total"]["a"]["params"] == 11_689_512 and doc["total"]["b"]["params"] == 21_797_672
    deeper = _json(cli, "resnet18", "resnet34", "--depth", "2")
    assert len(deeper["stages"]) > len(doc["stages"])


def test_errors_are_one_line(cli: Any) -> None:
    result = cli("diff", "resnet18", "resnett34")
    assert result.exit_code == 2 and "unknown model 'resnett34'" in result.stderr
    result = cli("diff", f"{BOTTLENECK}:Conv3x3On256", f"{BOTTLENECK}:Bottleneck", "--input", "1,64,56,56")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "expects 256 input channels but got 64" in result.stderr


def test_api_diff_takes_modules() -> None:
    a = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False))
    b = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False))
    result = archinspect.diff(a, b, (1, 8, 10, 10))
    assert isinstance(result, ModelDiff)
    assert result.total is not None and result.total.macs_ratio == 9.0
    assert result.stages[0].a is not None and result.stages[0].a.rf is not None
    assert result.stages[0].a.rf.size == (3, 3)


def test_input_b_gives_b_its_own_input(cli: Any) -> None:
    doc = _json(cli, "resnet20", "resnet20", "--input-b", "1,3,64,64")
    assert doc["a"]["inputs"][0]["shape"] == [1, 3, 32, 32] and doc["b"]["inputs"][0]["shape"] == [1, 3, 64, 64]
    layer3 = doc["stages"][5]
    assert layer3["a"]["name"] == "layer3"
    assert (layer3["a"]["output_shape"], layer3["b"]["output_shape"]) == ([1, 64, 8, 8], [1, 64, 16, 16])
    assert layer3["macs_ratio"] == 0.25 and layer3["a"]["rf"]["size"] == layer3["b"]["rf"]["size"] == [81, 81]
    table = cli("diff", "resnet20", "resnet20", "--input-b", "1,3,64,64")
    assert "B input: 1,3,64,64" in table.stdout
