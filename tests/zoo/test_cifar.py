"""CIFAR DenseNet and ResNet: exact parameters and MACs (docs/reference/zoo.md), block shapes, arguments, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archinspect.errors import UsageError
from archinspect.models.zoo import get_entry
from archinspect.models.zoo.resnet_cifar import ZeroPadShortcut

CIFAR_INPUT = (1, 3, 32, 32)

# name -> (params, exact MACs for one 3x32x32 sample), as docs/reference/zoo.md prints them.
EXPECTED = {
    "densenet-40": (1_019_722, 264_812_928),
    "densenet-100": (6_979_642, 1_769_516_448),
    "densenet-100-24": (27_249_082, 6_889_347_744),
    "densenet-bc-100": (769_162, 287_929_692),
    "densenet-bc-250": (15_324_406, 5_418_785_724),
    "densenet-bc-190": (25_624_430, 9_301_945_740),
    "resnet20": (269_722, 40_551_040),
    "resnet32": (464_154, 68_862_592),
    "resnet44": (658_586, 97_174_144),
    "resnet56": (853_018, 125_485_696),
    "resnet110": (1_727_962, 252_887_680),
    "resnet1202": (19_421_274, 2_829_238_912),
}


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _count(model: nn.Module, shape: tuple[int, ...] = CIFAR_INPUT) -> tuple[int, int, torch.Size]:
    """(params, MACs, output shape) of one eval forward on the meta device."""
    with torch.device("meta"), torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.eval()(torch.randn(*shape))
    return _params(model), counter.get_total_flops() // 2, out.shape


def _build(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return get_entry(name).build(**kwargs)


HEAVY = ("resnet1202", "densenet-bc-250", "densenet-bc-190")  # seconds each on 2 cores: the slow step


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in EXPECTED])
def test_exact_params_macs_and_output(name: str) -> None:
    entry = get_entry(name)
    params, macs = EXPECTED[name]
    assert (entry.params, entry.macs) == (params, macs)
    assert (entry.default_input, entry.num_classes) == (CIFAR_INPUT, 10)
    assert _count(_build(name)) == (params, macs, torch.Size([1, 10]))


def test_densenet_bc_alias_and_the_notes_depth_40() -> None:
    assert get_entry("densenet-bc").name == "densenet-bc-100"
    assert get_entry("DenseNet_BC").name == "densenet-bc-100"
    assert _count(_build("densenet-bc", depth=40)) == (176_122, 72_365_352, torch.Size([1, 10]))


def test_densenet_top_level_children_show_the_three_blocks() -> None:
    model = _build("densenet-bc", depth=40)
    names = [name for name, _ in model.named_children()]
    assert names == ["conv1", "block1", "trans1", "block2", "trans2", "block3", "norm", "relu", "pool", "fc"]
    assert [len(list(getattr(model, f"block{i}").children())) for i in (1, 2, 3)] == [6, 6, 6]


def _child_shapes(model: nn.Module, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [
        child.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
        for name, child in model.named_children()
    ]
    try:
        with torch.device("meta"), torch.no_grad():
            model.eval()(torch.randn(*shape))
    finally:
        for h in handles:
            h.remove()
    return shapes


def test_densenet_bc_40_block_and_transition_shapes() -> None:
    # Stem 2k = 24; each block adds 6 layers x 12 maps = 72; transitions halve channels and map.
    shapes = _child_shapes(_build("densenet-bc", depth=40), CIFAR_INPUT)
    assert shapes == {
        "conv1": (1, 24, 32, 32),
        "block1": (1, 96, 32, 32),
        "trans1": (1, 48, 16, 16),
        "block2": (1, 120, 16, 16),
        "trans2": (1, 60, 8, 8),
        "block3": (1, 132, 8, 8),
        "norm": (1, 132, 8, 8),
        "relu": (1, 132, 8, 8),
        "pool": (1, 132, 1, 1),
        "fc": (1, 10),
    }


def test_plain_densenet_keeps_channels_in_transitions() -> None:
    # densenet-40: stem 16, 12 layers x 12 maps per block, no compression: 160, 304, 448.
    shapes = _child_shapes(_build("densenet-40"), CIFAR_INPUT)
    assert shapes["trans1"] == (1, 160, 16, 16)
    assert shapes["trans2"] == (1, 304, 8, 8)
    assert shapes["block3"] == (1, 448, 8, 8)


def test_densenet_arguments() -> None:
    # in_channels=1 drops 2 x 24 x 3 x 3 stem weights; 100 classes add 90 x (132 + 1) in fc.
    params, _, out = _count(_build("densenet-bc", depth=40, num_classes=100, in_channels=1), (1, 1, 32, 32))
    assert params == 176_122 - 2 * 24 * 9 + 90 * 133
    assert out == (1, 100)
    # Growth 12, BC, depth 40, no compression: transitions keep 96 and 168 channels; block3 ends at 240.
    shapes = _child_shapes(_build("densenet-bc", depth=40, compression=1.0), CIFAR_INPUT)
    assert shapes["block3"] == (1, 240, 8, 8)
    # Plain layers with growth 24 at depth 40: stem 16, 12 layers per block.
    wide = _child_shapes(_build("densenet-40", growth_rate=24), CIFAR_INPUT)
    assert wide["block1"] == (1, 16 + 12 * 24, 32, 32)


def test_densenet_forward_runs_on_cpu() -> None:
    model = get_entry("densenet-bc").build(depth=16).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "depth", "needle"),
    [
        ("densenet-bc", 41, "6n+4"),
        ("densenet-bc", 42, "6n+4"),
        ("densenet-40", 41, "3n+4"),
        ("densenet-40", 4, "3n+4"),
        ("resnet20", 21, "6n+2"),
        ("resnet56", 2, "6n+2"),
    ],
)
def test_bad_depth_is_a_usage_error(name: str, depth: int, needle: str) -> None:
    with pytest.raises(UsageError) as err:
        get_entry(name).build(depth=depth)
    message = str(err.value)
    assert needle in message and f"got {depth}" in message
    assert "\n" not in message


def test_densenet_bad_compression_and_growth_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="compression must be in"):
        get_entry("densenet-bc").build(compression=0)
    with pytest.raises(UsageError, match="growth_rate"):
        get_entry("densenet-40").build(growth_rate=0)


def test_plain_depth_40_is_valid_for_densenet_but_not_for_bc_at_43() -> None:
    assert len(list(_build("densenet-40", depth=43).block1.children())) == 13
    with pytest.raises(UsageError):
        get_entry("densenet-bc").build(depth=43)


def test_resnet_depth_argument_and_stages() -> None:
    model = _build("resnet20", depth=56)
    assert _params(model) == 853_018
    assert [len(model.layer1), len(model.layer2), len(model.layer3)] == [9, 9, 9]
    shapes = _child_shapes(_build("resnet20"), CIFAR_INPUT)
    assert [shapes[f"layer{i}"] for i in (1, 2, 3)] == [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8)]
    assert shapes["fc"] == (1, 10)


def test_resnet_arguments() -> None:
    # in_channels=1 drops 2 x 16 x 3 x 3 stem weights; 100 classes add 90 x (64 + 1) in fc.
    params, macs, out = _count(_build("resnet20", num_classes=100, in_channels=1), (1, 1, 32, 32))
    assert params == 269_722 - 2 * 16 * 9 + 90 * 65
    assert macs == 40_551_040 - 2 * 16 * 9 * 32 * 32 + 90 * 64
    assert out == (1, 100)


def test_option_a_shortcuts_hold_no_parameters_and_pad_zeros() -> None:
    model = get_entry("resnet20").build().eval()
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert len(shortcuts) == 2  # the first block of stages 2 and 3
    assert all(_params(m) == 0 for m in shortcuts)
    x = torch.randn(2, 16, 32, 32)
    y = ZeroPadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 16, 16)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
