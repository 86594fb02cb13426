"""Receptive fields: published values, hand-derived chains, and the rule of each kind of operator."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archinspect
from archinspect.analyses.receptive import FieldRow
from archinspect.core.counter import OpCounter
from archinspect.core.receptive import FieldTracker
from archinspect.models.loading import create_model


def _rows(model: nn.Module, shape: tuple[int, ...]) -> dict[str, FieldRow]:
    return {row.name: row for row in archinspect.receptive_field(model, shape)}


def _field(row: FieldRow) -> tuple[Any, Any, Any]:
    return row.size, row.jump, row.start


# Published: Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill
# 2019 (doi:10.23915/distill.00021), whose table is also the README of the authors' library
# github.com/google-research/receptive_field ("convnet model | receptive field | effective stride |
# effective padding"): vgg_16 212 / 32 / 90, inception_v3 1311 / 32 / 618, inception_v4 2071 / 32 / 998,
# inception_resnet_v2 3039 / 32 / 1482, alexnet_v2 195 / 32 / 64, resnet_v1_50 483 / 32 / 239. We read the
# values from that README (the Distill page itself was not reachable from here). Effective padding P is
# minus our ``start`` (the first pixel unit 0 sees).
@pytest.mark.parametrize(
    ("name", "shape", "layer", "size", "padding"),
    [
        ("vgg16", (1, 3, 224, 224), "features", 212, 90),  # after pool5, TF-slim's vgg_16 end point
        ("inception-v3", (1, 3, 299, 299), "Mixed_7c", 1311, 618),
        ("inception-v4", (1, 3, 299, 299), "features", 2071, 998),
        ("inception-resnet-v2", (1, 3, 299, 299), "conv2d_7b", 3039, 1482),
    ],
)
def test_published_receptive_fields(name: str, shape: tuple[int, ...], layer: str, size: int, padding: int) -> None:
    rows = _rows(create_model(name, device="meta"), shape)
    assert _field(rows[layer]) == ((size, size), (32, 32), (-padding, -padding))
    assert not rows[layer].bound


def test_alexnet_size_and_stride_as_published_padding_as_torchvision_pads() -> None:
    # alexnet_v2 (TF-slim) 195 / 32 / 64 in the table above. Size and stride do not depend on padding; our
    # AlexNet pads conv1 by 2 where TF-slim's is VALID, so its effective padding is, by hand,
    # conv1 2 + conv2 2·8 + conv3..5 3·16 = 66.
    rows = _rows(create_model("alexnet", device="meta"), (1, 3, 224, 224))
    assert _field(rows["features"]) == ((195, 195), (32, 32), (-66, -66))


def test_resnet50_torchvision_layout_by_hand() -> None:
    # The table's resnet_v1_50 (483) is TF-slim's, which strides at the *last* unit of each stage; our
    # resnet50 strides in the first bottleneck's 3×3 (torchvision, "ResNet v1.5"). By hand: conv1 7 (j 2),
    # maxpool +2·2 = 11 (j 4); layer1 3 × 2·4 = 35; layer2 +2·4 (j 8) + 3 × 2·8 = 91; layer3 +2·8 (j 16)
    # + 5 × 2·16 = 267; layer4 +2·16 (j 32) + 2 × 2·32 = 427. Padding: 3 + 2 + 3·4 + (4 + 3·8) + (8 + 5·16)
    # + (16 + 2·32) = 213.
    rows = _rows(create_model("resnet50", device="meta"), (1, 3, 224, 224))
    expected = {"layer1": (35, 4, 17), "layer2": (91, 8, 45), "layer3": (267, 16, 133), "layer4": (427, 32, 213)}
    for name, (size, jump, pad) in expected.items():
        assert _field(rows[name]) == ((size, size), (jump, jump), (-pad, -pad)), name
    # Global pooling sees the union of the 7×7 units' fields: 427 + 6·32 = 619 pixels, from -213.
    assert _field(rows["avgpool"]) == ((619, 619), (32, 32), (-213, -213))
    assert rows[""].size == (619, 619) and rows[""].output_shape == (1, 1000)


def test_hand_derived_chains() -> None:
    # conv 5 → conv 3: 5 + (3 − 1)·1 = 7; paddings 2 and 1 put unit 0's field at -2 − 1 = -3.
    chain = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2), nn.Conv2d(1, 1, 3, padding=1))
    rows = _rows(chain, (1, 1, 16, 16))
    assert _field(rows["0"]) == ((5, 5), (1, 1), (-2, -2))
    assert _field(rows["1"]) == ((7, 7), (1, 1), (-3, -3))
    # With stride and dilation: conv 3 stride 2 pad 1 → 3, jump 2, start -1; conv 3 dilation 2 pad 2 →
    # 3 + (3 − 1)·2·2 = 11, start -1 − 2·2 = -5; maxpool 2 → 11 + 1·2 = 13, jump 4.
    chain = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, dilation=2, padding=2))
    chain.append(nn.MaxPool2d(2))
    rows = _rows(chain, (1, 1, 32, 32))
    assert _field(rows["1"]) == ((11, 11), (2, 2), (-5, -5))
    assert _field(rows["2"]) == ((13, 13), (4, 4), (-5, -5))
    # Different kernels per axis: (1, 7) then (7, 1) — Inception v3's factorisation.
    chain = nn.Sequential(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, (7, 1), padding=(3, 0)))
    rows = _rows(chain, (1, 1, 17, 17))
    assert _field(rows["0"]) == ((1, 7), (1, 1), (0, -3))
    assert _field(rows["1"]) == ((7, 7), (1, 1), (-3, -3))


def _tracked(fn: Any, x: torch.Tensor) -> Any:
    tracker = FieldTracker()
    tracker.mark_input(x)
    with torch.no_grad(), OpCounter(lambda cost: None, [tracker]):
        out = fn(x)
    return tracker.get(out), tracker


def test_ceil_mode_pooling_gives_the_last_unit_a_window_past_the_edge() -> None:
    x = torch.zeros(1, 1, 1, 8)
    fm, _ = _tracked(lambda t: F.max_pool2d(t, (1, 3), stride=(1, 2), ceil_mode=True), x)
    w = fm.axes[3]
    assert len(w.lo) == 4  # ceil((8 − 3) / 2) + 1
    assert list(zip(w.lo, w.hi, strict=True)) == [(0, 2), (2, 4), (4, 6), (6, 8)]


def test_adaptive_pooling_windows_are_pytorchs() -> None:
    # 7 → 3: windows [floor(i·7/3), ceil((i+1)·7/3)) = [0, 3), [2, 5), [4, 7)
    fm, _ = _tracked(lambda t: F.adaptive_avg_pool2d(t, (3, 3)), torch.zeros(1, 1, 7, 7))
    h = fm.axes[2]
    assert list(zip(h.lo, h.hi, strict=True)) == [(0, 2), (2, 4), (4, 6)]
    assert h.jump == pytest.approx(7 / 3)


def test_upsampling_and_transposed_convolution() -> None:
    fm, _ = _tracked(lambda t: F.interpolate(t, scale_factor=2, mode="nearest"), torch.zeros(1, 1, 4, 4))
    h = fm.axes[2]
    assert list(h.lo) == [0, 0, 1, 1, 2, 2, 3, 3] and h.lo == h.hi and h.jump == 0.5
    # Bilinear, align_corners=False: output 1 sits at source 0.25, between pixels 0 and 1.
    fm, _ = _tracked(lambda t: F.interpolate(t, scale_factor=2, mode="bilinear"), torch.zeros(1, 1, 4, 4))
    h = fm.axes[2]
    assert list(zip(h.lo, h.hi, strict=True)) == [(0, 0), (0, 1), (0, 1), (1, 2), (1, 2), (2, 3), (2, 3), (3, 3)]
    # Transposed conv k4 s2 p1 (a 2× decoder step): output o gets inputs (o + 1 − t)/2 for taps t = 0..3.
    w = torch.zeros(1, 1, 4, 4)
    fm, _ = _tracked(lambda t: F.conv_transpose2d(t, w, stride=2, padding=1), torch.zeros(1, 1, 4, 4))
    h = fm.axes[2]
    assert list(zip(h.lo, h.hi, strict=True))[:4] == [(-1, 0), (0, 1), (0, 1), (1, 2)]
    assert h.jump == 0.5


def test_residual_concat_and_global_mean() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, padding=1)
            self.b = nn.Conv2d(1, 1, 5, padding=2)
            self.c = nn.Conv2d(2, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.cat([self.a(x), self.b(x)], 1)  # aligned branches: the larger, 5
            z = self.c(y) + x  # residual: still 5
            shifted = F.pad(self.a(x)[..., 1:, :], (0, 0, 0, 1))  # the 3×3 moved one row up: [o−0, o+2]
            return z + shifted, z.mean((2, 3))

    rows = _rows(Block(), (1, 1, 9, 9))
    assert _field(rows["c"]) == ((5, 5), (1, 1), (-2, -2))
    fm, _ = _tracked(lambda t: Block()(t)[0], torch.zeros(1, 1, 9, 9))
    # Misaligned branches: the hull of [o−2, o+2] and [o, o+2] per unit is still [o−2, o+2]; the last
    # row's shifted branch is zero padding (no field), so only z counts there.
    h = fm.axes[2]
    assert (h.lo[4], h.hi[4]) == (2, 6)
    fm, _ = _tracked(lambda t: Block()(t)[1], torch.zeros(1, 1, 9, 9))
    assert fm.axes == {} and fm.whole[0][:2] == (-2, 10)  # every unit of the 9 rows, padding included


def test_flatten_linear_and_se_gating_see_the_whole_input() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 6 * 6, 4))
    rows = _rows(model, (1, 1, 6, 6))
    assert _field(rows["1"]) == ((8, 8), (1, 1), (-1, -1))
    assert _field(rows["2"]) == ((8, 8), (1, 1), (-1, -1))

    class SqueezeExcite(nn.Module):  # x · sigmoid(fc(mean(x))): every unit depends on every pixel
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return y * torch.sigmoid(self.fc(y.mean((2, 3))))[:, :, None, None]

    rows = _rows(SqueezeExcite(), (1, 1, 6, 6))
    assert _field(rows["conv"]) == ((3, 3), (1, 1), (-1, -1))
    assert _field(rows[""]) == ((8, 8), (1, 1), (-1, -1))
    # SE-ResNeXt-50: the first block's gate sees every unit of the 56×56 map. Unit i's field before it is
    # [-9 + 4i, 9 + 4i] (ResNeXt-50's layer1.0: 19, jump 4), so after it every unit sees [-9, 9 + 4·55]:
    # 239 pixels. Units keep their own unclipped field on top of that, so later convolutions still widen
    # it (layer1: [-17, 237]); the last gate makes layer4 what global pooling gives ResNeXt-50: 427 + 6·32.
    plain = _rows(create_model("resnext50-32x4d", device="meta"), (1, 3, 224, 224))
    gated = archinspect.receptive_field(create_model("se-resnext50-32x4d", device="meta"), (1, 3, 224, 224), depth=2)
    by_name = {r.name: r for r in gated}
    assert _field(by_name["layer1.0"]) == ((239, 239), (4, 4), (-9, -9))
    assert _field(by_name["layer1"]) == ((255, 255), (4, 4), (-17, -17))
    assert plain["layer4"].size == (427, 427) and by_name["layer4"].size == plain["avgpool"].size == (619, 619)


def test_a_tensor_that_does_not_depend_on_the_input_has_no_field() -> None:
    class Const(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1, 4))
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.fc(self.w), torch.zeros_like(x) + 1

    rows = archinspect.receptive_field(Const(), (1, 1, 4, 4))
    assert rows == []


def test_an_operator_without_a_rule_gives_an_upper_bound_and_a_note() -> None:
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.PixelShuffle(2))
    report = archinspect.inspect(model, (1, 4, 8, 8))
    rf = report.records[2].rf
    assert rf is not None and rf.bound and rf.size == (10, 10)
    assert any("upper bounds" in n and "pixel_shuffle" in n for n in report.notes)


def test_json_layers_carry_rf_and_the_table_shows_it_only_with_rf(cli: Any) -> None:
    result = cli("shapes", "d2l-lenet-bn", "--format", "json")
    assert result.exit_code == 0, result.stderr
    layers = json.loads(result.stdout)["layers"]
    assert layers[1]["name"] == "0" and layers[1]["rf"] == {
        "size": [5, 5],
        "jump": [1, 1],
        "start": [0, 0],
        "centre": [2, 2],
        "bound": False,
    }
    plain = cli("shapes", "d2l-lenet-bn", "--depth", "1")
    with_rf = cli("shapes", "d2l-lenet-bn", "--depth", "1", "--rf")
    assert with_rf.exit_code == 0
    assert "Jump" not in plain.stdout and "Jump" in with_rf.stdout and "Start" in with_rf.stdout
    # LeNet: conv5 (5), pool2 (6, j2), conv5 (14, j2), pool2 (16, j4); flatten: all 4 units, 16 + 3·4 = 28
    cells = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[5:8]]
        for line in with_rf.stdout.splitlines()
        if line.count("│") > 5
    }
    assert cells["4"] == ["14×14", "2×2", "0,0"]
    assert cells["7"] == ["16×16", "4×4", "0,0"]
    assert cells["8"] == ["28×28", "4×4", "0,0"]


def test_receptive_field_api_rows() -> None:
    rows = archinspect.receptive_field(create_model("resnet20", device="meta"), (1, 3, 32, 32), depth=1)
    assert [r.name for r in rows][:3] == ["", "conv1", "bn1"]
    assert rows[0].output_shape == (1, 10)
    by_name = {r.name: r for r in rows}
    # resnet20: conv 3; stage 1 = 3 blocks × 2 convs at jump 1 → 3 + 12 = 15; stage 2 first conv stride 2
    # (+2, j 2) then 5 convs at j 2 (+20) → 37; stage 3: +4 (j 4) + 5 × 8 → 81.
    assert by_name["layer1"].size == (15, 15)
    assert by_name["layer2"].size == (37, 37) and by_name["layer2"].jump == (2, 2)
    assert by_name["layer3"].size == (81, 81) and by_name["layer3"].jump == (4, 4)


def test_activations_torch_does_not_tag_pointwise_keep_the_field_exact() -> None:
    """``hardswish`` (MobileNetV3) has no pointwise tag in torch; its field is its input's, not a bound."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardswish(inplace=True), nn.Conv2d(4, 4, 3), nn.Hardsigmoid())
    report = archinspect.inspect(net, [(1, 3, 16, 16)], device="meta")
    assert not any("upper bound" in note for note in report.notes), report.notes
    last = report.records[-1].rf
    assert (last.size, last.bound) == ((5, 5), False)
