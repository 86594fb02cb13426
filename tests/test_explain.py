"""``explain`` / ``shapes --explain``: the arithmetic behind each layer, checked by hand on the layers the
notes compute (numbers worked out on paper, then compared with what the pass counted)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch
from torch import nn

import archinspect
from archinspect.models.loading import create_model


@pytest.fixture(scope="module")
def alexnet() -> archinspect.Explanation:
    return archinspect.explain("d2l-alexnet", (1, 1, 224, 224))


def test_alexnet_first_convolution(alexnet: archinspect.Explanation) -> None:
    conv = alexnet.layer("0")  # Conv2d(1, 96, kernel_size=11, stride=4, padding=1)
    assert conv.shape == ["H, W: ⌊(224 + 2·1 − 11)/4⌋ + 1 = 54", "C: out_channels = 96"]
    assert conv.params_rule == ["11·11·1·96 + 96 bias = 11,712"] and conv.params == 11_712
    assert conv.macs_rule == ["54·54 positions × 11·11·1 × 96 = 33,872,256"] and conv.macs == 33_872_256


def test_alexnet_flatten_before_the_fc(alexnet: archinspect.Explanation) -> None:
    assert alexnet.layer("12").shape[0] == "H, W: ⌊(12 − 3)/2⌋ + 1 = 5"
    assert alexnet.layer("13").shape == ["dims 1..3: 256·5·5 = 6400"]
    fc = alexnet.layer("14")
    assert fc.shape[0] == "receives 256×5×5 = 6400 (flattened 1×256×5×5)"
    assert fc.params_rule == ["6400·4096 + 4096 bias = 26,218,496"]
    assert fc.macs_rule == ["1 row × 6400 × 4096 = 26,214,400"]


def test_alexnet_leaders(alexnet: archinspect.Explanation) -> None:
    params, macs, acts = (alexnet.dominant[k] for k in ("params", "macs", "activations"))
    assert (params[0].name, params[0].value, round(params[0].share, 3)) == ("14", 26_218_496, 0.561)
    assert (macs[0].name, macs[0].value, round(macs[0].share, 3)) == ("3", 415_334_400, 0.443)
    assert acts[0].name == "0" and acts[0].value == 96 * 54 * 54 * 4
    assert alexnet.kept == {"ReLU": 7, "Dropout": 2}


def test_stride_two_conv_then_ceil_mode_pooling() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2),  # ⌊(21 − 3)/2⌋ + 1 = 10
        nn.MaxPool2d(3, 2, ceil_mode=True),  # ⌈(10 − 3)/2⌉ + 1 = 5 (floor mode: 4)
        nn.MaxPool2d(2, 2, padding=1, ceil_mode=True),  # ⌈(5 + 2 − 2)/2⌉ + 1 = 4, but window 4 starts at 6 ≥ 5 + 1
    )
    e = archinspect.explain(net, (1, 3, 21, 21))
    assert e.layer("0").shape[0] == "H, W: ⌊(21 − 3)/2⌋ + 1 = 10"
    assert e.layer("1").shape[0] == "H, W: ⌈(10 − 3)/2⌉ + 1 = 5"
    assert e.layer("2").shape[0] == "H, W: ⌈(5 + 2·1 − 2)/2⌉ + 1 − 1 = 3 (the last window would start in the padding)"
    assert e.layer("2").output_shape == (1, 8, 3, 3)  # what torch computed agrees


def test_grouped_and_dilated_convolutions() -> None:
    net = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1, groups=32), nn.Conv2d(128, 128, 3, padding=2, dilation=2))
    e = archinspect.explain(net, (1, 64, 16, 16))
    grouped, dilated = e.layer("0"), e.layer("1")
    assert grouped.params_rule[0] == "3·3·(64/32)·128 + 128 bias = 2,432"
    assert grouped.macs_rule == ["16·16 positions × 3·3·(64/32) × 128 = 589,824"] and grouped.macs == 589_824
    assert dilated.shape[0] == "H, W: 16 + 2·2 − 2·(3 − 1) − 1 + 1 = 16"
    assert dilated.macs == 16 * 16 * 9 * 128 * 128


def test_dense_block_concatenation_and_transition() -> None:
    e = archinspect.explain("densenet-bc", (1, 3, 32, 32))  # DenseNet-BC-100, k = 12: 16 layers per block
    assert e.layer("block1").shape == ["concatenation on channels: 24 (input) + 16·12 = 216"]
    assert e.layer("block2").shape[0] == "concatenation on channels: 108 (input) + 16·12 = 300"
    pool = next(x for x in e.layers if x.name.startswith("trans1") and x.type == "AvgPool2d")
    assert pool.shape[0] == "H, W: ⌊(32 − 2)/2⌋ + 1 = 16"  # the transition halves the map


def test_inception_branches_and_residual_add() -> None:
    inception = archinspect.explain("d2l-googlenet").layer("2.0")
    assert inception.shape == ["concatenation on channels: 64 + 128 + 32 + 32 = 256"]
    block = archinspect.explain(create_model("resnet20", device="meta"), (1, 3, 32, 32)).layer("layer1.0")
    assert block.shape == ["residual add: 1×16×32×32 + 1×16×32×32 (shapes must agree)"]


def test_a_flatten_inside_forward_and_an_add_are_seen_in_the_operator_stream() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 6 * 6, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x) + x  # a residual add in the model's own forward
            return self.fc(y.view(y.size(0), -1))  # flattened without an nn.Flatten

    e = archinspect.explain(Net(), (2, 4, 6, 6))
    assert e.layer("").shape == ["residual add: 2×4×6×6 + 2×4×6×6 (shapes must agree)", "flatten: 4·6·6 = 144"]
    assert e.layer("fc").shape[0] == "receives 4×6×6 = 144 (flattened 2×4×6×6)"
    assert e.layer("fc").macs_rule == ["2 rows × 144 × 10 = 2,880"]


def test_cli_explain_at_80_columns(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("shapes", "d2l-alexnet", "--explain")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "0 (Conv2d) 1×1×224×224 → 1×96×54×54\n  shape   H, W: ⌊(224 + 2·1 − 11)/4⌋ + 1 = 54\n" in out
    assert "  params  11·11·1·96 + 96 bias = 11,712\n" in out
    assert "13 (Flatten) 1×256×5×5 → 1×6400\n  shape   dims 1..3: 256·5·5 = 6400\n" in out
    assert "Which layers dominate" in out and "Not listed (shape kept, no parameters, no MACs): ReLU ×7" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    doc = cli("shapes", "d2l-alexnet", "--explain", "--format", "json")
    assert json.loads(doc.stdout)["layers"][0]["params_rule"] == ["11·11·1·96 + 96 bias = 11,712"]


def test_explanation_displays_itself(alexnet: archinspect.Explanation) -> None:
    page = alexnet._repr_html_()
    assert "⌊(224 + 2·1 − 11)/4⌋ + 1 = 54" in page and "Which layers dominate" in page
    assert repr(alexnet).startswith("<Explanation d2l-alexnet · input 1,1,224,224")


def _small() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
    )


def test_time_dominance_comes_from_the_profile_passed_in() -> None:
    net = _small()
    measured = archinspect.profile(net, (1, 3, 8, 8), device="cpu", repeats=2, warmup_passes=0, threads=1)
    own_ms = {"": 0.2, "0": 4.0, "1": 1.2, "2": 3.0, "3": 0.6, "4": 1.0}  # set by hand: 10 ms in all
    records = [dataclasses.replace(r, self_s=own_ms[r.name] / 1e3) for r in measured.records]
    e = archinspect.explain(net, (1, 3, 8, 8), profile=dataclasses.replace(measured, records=records))
    leaders = [(x.name, x.type, round(x.value * 1e3, 6), round(x.share, 6)) for x in e.dominant["time"]]
    assert leaders == [("0", "Conv2d", 4.0, 0.4), ("2", "Conv2d", 3.0, 0.3), ("1", "ReLU", 1.2, 0.12)]
    assert e.timed == "median of 2 timed passes on cpu" and e.to_dict()["timed"] == e.timed
    text = str(e)
    assert re.search(r"│ Time +│ 0 +│ Conv2d +│ +4\.000 ms │ 40\.0% │", text), text
    assert re.search(r"│ +│ 1 +│ ReLU +│ +1\.200 ms │ 12\.0% │", text)
    assert "Time: each layer's own time (its children's excluded), median of 2 timed passes on cpu" in text
    assert "Time" not in str(archinspect.explain(net, (1, 3, 8, 8)))  # no profile, no time line


def test_a_profile_of_another_model_is_refused() -> None:
    other = archinspect.profile(nn.Sequential(nn.Linear(4, 4)), (1, 4), device="cpu", repeats=1, warmup_passes=0)
    with pytest.raises(
        archinspect.UsageError,
        match=r"^profile: 0 \(Linear\) is not a layer of Sequential; pass "
        r"archinspect\.profile\(model, inputs\) of the model explained$",
    ):
        archinspect.explain(_small(), (1, 3, 8, 8), profile=other)


def test_cli_explain_time_names_the_slowest_layers(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("shapes", "d2l-lenet-bn", "--explain", "--time", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert re.search(r"│ Time +│ \S+ +│ \w+ +│ +\d+\.\d{3} ms │ +\d+\.\d% │", out), out
    assert "median of 20 timed passes on cpu; share of all modules' own times." in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 80
    refused = cli("shapes", "d2l-lenet-bn", "--time")
    assert refused.exit_code == 2 and refused.stderr == "error: --time applies to --explain\n"
    meta = cli("shapes", "d2l-lenet-bn", "--explain", "--time", "--device", "meta")
    assert meta.exit_code == 2 and "--device 'meta' cannot be timed; accepted: auto, cpu, cuda" in meta.stderr
