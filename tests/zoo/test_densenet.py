"""ImageNet DenseNet-BC: exact parameters and MACs, torchvision's parameter names."""

from __future__ import annotations

import pytest
import torch
from zoo_count import count

from archinspect.models.zoo import get_entry
from archinspect.models.zoo.densenet import DenseBlock, DenseNet

# name, params, MACs at 1×3×224×224, then the same for num_classes=10, in_channels=1 at 1×1×224×224.
# The variant drops (classifier_in + 1) * 990 parameters and 2 * init_features * 7 * 7 stem weights.
CASES = [
    ("densenet121", 7_978_856, 2_834_161_664, 6_957_834, 2_754_471_936),
    ("densenet161", 28_681_000, 7_727_907_072, 26_484_682, 7_607_707_200),
    ("densenet169", 14_149_480, 3_359_843_328, 12_494_858, 3_279_520_000),
    ("densenet201", 20_013_928, 4_291_365_888, 18_105_866, 4_210_789_120),
]


@pytest.mark.parametrize(("name", "params", "macs", "_p", "_m"), CASES)
def test_default_counts_match_zoo(name: str, params: int, macs: int, _p: int, _m: int) -> None:
    entry = get_entry(name)
    assert entry.family == "DenseNet"
    assert count(name) == (params, macs, (1, 1000))
    assert entry.params == params
    assert round(macs / 1e9, 3) == entry.gmacs


# 169 and 201 follow the same arithmetic as 121; 161 has the wider (96-channel) stem.
@pytest.mark.parametrize(("name", "_p", "_m", "params", "macs"), CASES[:2])
def test_ten_classes_one_channel(name: str, _p: int, _m: int, params: int, macs: int) -> None:
    assert count(name, num_classes=10, in_channels=1) == (params, macs, (1, 10))


def test_state_dict_keys_as_torchvision() -> None:
    with torch.device("meta"):
        sd = get_entry("densenet121").build().state_dict()
        sd161 = get_entry("densenet161").build().state_dict()
    # torchvision's densenet121 / densenet161 state_dicts hold 727 / 967 tensors.
    assert (len(sd), len(sd161)) == (727, 967)
    assert list(sd)[0] == "features.conv0.weight"
    assert list(sd)[-2:] == ["classifier.weight", "classifier.bias"]
    expected = {
        "features.conv0.weight": (64, 3, 7, 7),
        "features.denseblock1.denselayer1.norm1.weight": (64,),
        "features.denseblock1.denselayer6.conv1.weight": (128, 224, 1, 1),
        "features.denseblock1.denselayer6.conv2.weight": (32, 128, 3, 3),
        "features.transition1.conv.weight": (128, 256, 1, 1),
        "features.transition3.norm.running_mean": (1024,),
        "features.denseblock4.denselayer16.norm1.weight": (992,),
        "features.norm5.weight": (1024,),
        "classifier.weight": (1000, 1024),
    }
    assert {key: tuple(sd[key].shape) for key in expected} == expected
    assert sd161["features.denseblock1.denselayer1.conv1.weight"].shape == (192, 96, 1, 1)
    assert sd161["classifier.weight"].shape == (1000, 2208)


def test_dense_block_concatenates_all_layers() -> None:
    torch.manual_seed(0)
    block = DenseBlock(num_layers=3, in_channels=8, growth_rate=4, bn_size=2).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, 8 + 3 * 4, 5, 5)
    assert torch.equal(out[:, :8], x)  # the block input passes through unchanged
    assert [layer.conv1.in_channels for layer in block.values()] == [8, 12, 16]


def test_cpu_forward_on_small_input() -> None:
    torch.manual_seed(0)
    model = DenseNet(8, (2, 3, 2), 16, num_classes=5, in_channels=1).eval()
    # stem 16, block 16 + 2*8 = 32, transition 16, block 16 + 24 = 40, transition 20, block 20 + 16 = 36
    assert model.classifier.in_features == 36
    with torch.no_grad():
        out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()
    assert not torch.equal(out[0], out[1])
