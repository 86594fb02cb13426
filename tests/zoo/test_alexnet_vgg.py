"""AlexNet and VGG: exact parameter counts and MACs (docs/reference/zoo.md), shapes, and constructor variants."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from archinspect.models.zoo import get_entry

# name -> (params, exact MACs for 1x3x224x224); docs/reference/zoo.md prints the MACs as GMACs to 3 decimals.
EXPECTED = {
    "alexnet": (61_100_840, 714_188_480),
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "vgg11-bn": (132_868_840, 7_609_090_048),
    "vgg13-bn": (133_053_736, 11_308_466_176),
    "vgg16-bn": (138_365_992, 15_470_264_320),
    "vgg19-bn": (143_678_248, 19_632_062_464),
}
# Weights of the first convolution per input channel (64 filters, 11x11 or 3x3).
FIRST_CONV_PER_CHANNEL = {"alexnet": 64 * 11 * 11}
VGG_FIRST_CONV_PER_CHANNEL = 64 * 3 * 3


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _macs(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, torch.Size]:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.eval()(torch.randn(*shape))
    return counter.get_total_flops() // 2, out.shape


@pytest.mark.parametrize("name", list(EXPECTED))
def test_params_macs_and_output_shape(name: str) -> None:
    entry = get_entry(name)
    params, macs = EXPECTED[name]
    assert entry.params == params
    assert entry.default_input == (1, 3, 224, 224)
    with torch.device("meta"):
        model = entry.build()
        assert _params(model) == params
        counted, shape = _macs(model, entry.default_input)
    assert counted == macs
    assert round(counted / 1e9, 3) == entry.gmacs
    assert shape == (1, 1000)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_num_classes_and_in_channels(name: str) -> None:
    entry = get_entry(name)
    per_channel = FIRST_CONV_PER_CHANNEL.get(name, VGG_FIRST_CONV_PER_CHANNEL)
    with torch.device("meta"):
        model = entry.build(num_classes=10, in_channels=1)
        # The last linear is 4096 -> num_classes in both families; two input channels fewer.
        assert _params(model) == entry.params - 4097 * 990 - 2 * per_channel
        out = model.eval()(torch.randn(2, 1, 224, 224))
    assert out.shape == (2, 10)


def test_vgg_bn_interleaves_batchnorm_like_torchvision() -> None:
    with torch.device("meta"):
        plain, bn = get_entry("vgg11").build(), get_entry("vgg11-bn").build()
    # Config A: 8 convs, 5 pools -> 21 modules plain, 29 with a BN after each conv.
    assert len(plain.features) == 21
    assert len(bn.features) == 29
    assert isinstance(bn.features[1], torch.nn.BatchNorm2d)
    keys = set(bn.state_dict())
    assert {"features.0.weight", "features.1.running_var", "features.4.weight", "classifier.6.bias"} <= keys
    assert "features.3.weight" in plain.state_dict()


def test_alexnet_runs_on_cpu_at_its_smallest_input() -> None:
    # 63x63 is the smallest square input that survives the three 3x3/2 max pools.
    torch.manual_seed(0)
    model = get_entry("alexnet").build(num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 63, 63))
    assert out.shape == (1, 7)
    assert torch.isfinite(out).all()
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 3, 62, 62))


def test_dropout_argument_reaches_the_classifier() -> None:
    with torch.device("meta"):
        model = get_entry("vgg16").build(dropout=0.3)
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert rates == [0.3, 0.3]
