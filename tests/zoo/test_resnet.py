"""ImageNet ResNet / ResNeXt / Wide ResNet: exact parameters and MACs, torchvision's layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from zoo_count import count

from archinspect.errors import UsageError
from archinspect.models.zoo import get_entry, list_models
from archinspect.models.zoo.resnet import BasicBlock, Bottleneck

# name, params, MACs at 1×3×224×224, then the same for num_classes=10, in_channels=1 at 1×1×224×224.
# The variant drops (fc_in + 1) * 990 fc parameters and 2 * 64 * 7 * 7 = 6,272 stem weights; MACs drop
# fc_in * 990 plus 112 * 112 * 6,272 = 78,675,968 in the stem.
CASES = [
    ("resnet18", 11_689_512, 1_814_073_344, 11_175_370, 1_734_890_496),
    ("resnet34", 21_797_672, 3_663_761_408, 21_283_530, 3_584_578_560),
    ("resnet50", 25_557_032, 4_089_184_256, 23_522_250, 4_008_480_768),
    ("resnet101", 44_549_160, 7_801_405_440, 42_514_378, 7_720_701_952),
    ("resnet152", 60_192_808, 11_513_626_624, 58_158_026, 11_432_923_136),
    ("resnext50-32x4d", 25_028_904, 4_230_479_872, 22_994_122, 4_149_776_384),
    ("resnext101-32x8d", 88_791_336, 16_414_015_488, 86_756_554, 16_333_312_000),
    ("wide-resnet50-2", 68_883_240, 11_398_021_120, 66_848_458, 11_317_317_632),
]


def test_family_is_registered() -> None:
    names = [case[0] for case in CASES]
    assert [n for n in list_models("*res*") if n in names] == names  # natural order: 18 < 34 < 50 < 101
    assert {get_entry(n).family for n in names} == {"ResNet"}


@pytest.mark.parametrize(("name", "params", "macs", "_p", "_m"), CASES)
def test_default_counts_match_zoo(name: str, params: int, macs: int, _p: int, _m: int) -> None:
    entry = get_entry(name)
    assert count(name) == (params, macs, (1, 1000))
    assert entry.params == params
    assert round(macs / 1e9, 3) == entry.gmacs


# The variant arithmetic is the same within a block type, so one deep net of each kind is enough.
@pytest.mark.parametrize(("name", "_p", "_m", "params", "macs"), [c for c in CASES if "101" not in c[0]])
def test_ten_classes_one_channel(name: str, _p: int, _m: int, params: int, macs: int) -> None:
    assert count(name, num_classes=10, in_channels=1) == (params, macs, (1, 10))


def test_underscore_name_and_unknown_argument() -> None:
    assert get_entry("ResNeXt50_32x4d").name == "resnext50-32x4d"
    with pytest.raises(UsageError, match="takes no argument 'depth'"):
        get_entry("resnet50").build(depth=50)


def test_state_dict_keys_as_torchvision() -> None:
    with torch.device("meta"):
        r18, r50 = get_entry("resnet18").build(), get_entry("resnet50").build()
    sd18, sd50 = r18.state_dict(), r50.state_dict()
    # torchvision's resnet18 / resnet50 state_dicts hold 122 / 320 tensors (num_batches_tracked included).
    assert (len(sd18), len(sd50)) == (122, 320)
    assert list(sd50)[:6] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    ]
    assert sd50["layer2.0.downsample.0.weight"].shape == (512, 256, 1, 1)
    assert sd50["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    assert sd50["fc.weight"].shape == (1000, 2048)
    assert sd18["layer3.0.downsample.1.running_var"].shape == (256,)
    assert not any(".se." in key for key in sd50)


def test_stride_sits_on_the_three_by_three() -> None:
    with torch.device("meta"):
        model = get_entry("resnet50").build()
    first = model.layer3[0]
    assert isinstance(first, Bottleneck)
    assert (first.conv1.stride, first.conv2.stride, first.conv3.stride) == ((1, 1), (2, 2), (1, 1))
    assert first.downsample[0].stride == (2, 2)


@pytest.mark.parametrize(
    ("name", "groups", "width"),
    [("resnext50-32x4d", 32, 128), ("resnext101-32x8d", 32, 256), ("wide-resnet50-2", 1, 128)],
)
def test_grouped_and_wide_three_by_three(name: str, groups: int, width: int) -> None:
    with torch.device("meta"):
        conv = get_entry(name).build().layer1[0].conv2
    assert (conv.groups, conv.in_channels, conv.out_channels) == (groups, width, width)


def test_cpu_forward_on_small_input() -> None:
    torch.manual_seed(0)
    model = get_entry("resnet18").build(num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    # Kaiming init on convs, BN at (1, 0): a fresh model still maps different inputs apart.
    assert not torch.equal(out[0], out[1])


def test_attention_layer_follows_last_bn() -> None:
    calls: list[int] = []

    def recording(channels: int) -> nn.Module:
        calls.append(channels)
        return nn.Identity()

    block = Bottleneck(256, 64, attn_layer=recording)
    basic = BasicBlock(64, 64, attn_layer=recording)
    assert calls == [256, 64]
    assert isinstance(block.se, nn.Identity) and isinstance(basic.se, nn.Identity)


def test_basic_block_refuses_groups() -> None:
    with pytest.raises(ValueError, match="groups=1"):
        BasicBlock(64, 64, groups=32, base_width=4)
