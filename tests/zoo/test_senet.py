"""SE-ResNeXt-50 32x4d: exact parameters and MACs as timm's ``seresnext50_32x4d``."""

from __future__ import annotations

import pytest
import torch
from zoo_count import count

from archinspect.models.zoo import get_entry
from archinspect.models.zoo.senet import SqueezeExcite, make_divisible


def test_default_counts_match_zoo() -> None:
    entry = get_entry("se-resnext50-32x4d")
    assert (entry.family, entry.params, entry.gmacs) == ("SENet", 27_559_896, 4.233)
    assert count("se-resnext50-32x4d") == (27_559_896, 4_232_994_816, (1, 1000))


def test_se_adds_exactly_its_gates_to_resnext50() -> None:
    # Per block with C output channels and r = C / 16 reduced ones: 2 * C * r weights + r + C biases;
    # stages (C, blocks) = (256, 3), (512, 4), (1024, 6), (2048, 3) give 2,530,992. The MACs add
    # 2 * C * r per block (the 1×1 convs act on a 1×1 map), 2,514,944 in all.
    plain_params, plain_macs, _ = count("resnext50-32x4d")
    se_params, se_macs, _ = count("se-resnext50-32x4d")
    assert se_params - plain_params == 2_530_992
    assert se_macs - plain_macs == 2_514_944


def test_ten_classes_one_channel() -> None:
    assert count("se-resnext50-32x4d", num_classes=10, in_channels=1) == (25_525_114, 4_152_291_328, (1, 10))


def test_state_dict_keys_as_timm() -> None:
    with torch.device("meta"):
        sd = get_entry("se_resnext50_32x4d").build().state_dict()
    # timm's seresnext50_32x4d state_dict holds 384 tensors: resnext50's 320 plus 4 per SE gate.
    assert len(sd) == 384
    shapes = {key: tuple(value.shape) for key, value in sd.items() if key.startswith("layer4.2.se.")}
    assert shapes == {
        "layer4.2.se.fc1.weight": (128, 2048, 1, 1),
        "layer4.2.se.fc1.bias": (128,),
        "layer4.2.se.fc2.weight": (2048, 128, 1, 1),
        "layer4.2.se.fc2.bias": (2048,),
    }
    assert sd["layer1.0.se.fc1.weight"].shape == (16, 256, 1, 1)


@pytest.mark.parametrize(("value", "expected"), [(16.0, 16), (64.0, 64), (6.25, 8), (12.5, 16), (11.9, 8)])
def test_make_divisible(value: float, expected: int) -> None:
    assert make_divisible(value) == expected


def test_squeeze_excite_gates_channels() -> None:
    se = SqueezeExcite(32)
    assert (se.fc1.out_channels, se.fc1.bias is not None, se.fc2.bias is not None) == (8, True, True)
    with torch.no_grad():
        se.fc2.weight.zero_()
        se.fc2.bias.copy_(torch.linspace(-3.0, 3.0, 32))
        x = torch.randn(2, 32, 4, 4)
        out = se(x)
    gate = torch.sigmoid(torch.linspace(-3.0, 3.0, 32)).view(1, 32, 1, 1)
    torch.testing.assert_close(out, x * gate)
