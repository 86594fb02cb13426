"""Xception, Inception-v4 and Inception-ResNet-v2: exact figures of timm's implementations."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from archinspect.models.zoo._registry import get_entry
from archinspect.models.zoo.inception_resnet_v2 import inception_resnet_v2
from archinspect.models.zoo.inception_v4 import inception_v4
from archinspect.models.zoo.xception import xception

# name, params (1000 classes), params (10 classes), params (1 input channel), exact MACs at 1x3x299x299
FIGURES = [
    ("xception", 22_855_952, 20_827_442, 22_855_376, 8_357_403_496),
    ("inception-v4", 42_679_816, 41_158_186, 42_679_240, 12_253_974_624),
    ("inception-resnet-v2", 55_843_464, 54_321_834, 55_842_888, 13_155_794_016),
]
BUILDERS = {"xception": xception, "inception-v4": inception_v4, "inception-resnet-v2": inception_resnet_v2}
TIMM_NAMES = {
    "xception": "legacy_xception",
    "inception-v4": "inception_v4",
    "inception-resnet-v2": "inception_resnet_v2",
}


def _params(name: str, **kwargs: int) -> int:
    with torch.device("meta"):
        model = BUILDERS[name](**kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "params", "params_10", "params_gray", "macs"), FIGURES)
def test_params_exact(name: str, params: int, params_10: int, params_gray: int, macs: int) -> None:
    assert _params(name) == params == get_entry(name).params
    # The classifier is 1536 (Xception: 2048) -> num_classes with bias.
    assert _params(name, num_classes=10) == params_10
    # The stem's first conv is 32 x in_channels x 3 x 3 without bias.
    assert params - _params(name, in_channels=1) == 32 * 2 * 3 * 3 == params - params_gray


@pytest.mark.parametrize(("name", "params", "params_10", "params_gray", "macs"), FIGURES)
def test_macs_exact_and_output_shape(name: str, params: int, params_10: int, params_gray: int, macs: int) -> None:
    entry = get_entry(name)
    assert entry.default_input == (1, 3, 299, 299)
    with torch.device("meta"):
        model = entry.build().eval()
        x = torch.empty(entry.default_input)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = model(x)
    assert out.shape == (1, 1000)
    assert counter.get_total_flops() // 2 == macs
    assert round(macs / 1e9, 3) == entry.gmacs


@pytest.mark.parametrize("name", list(BUILDERS))
def test_num_classes_and_in_channels(name: str) -> None:
    with torch.device("meta"):
        model = get_entry(name).build(num_classes=10, in_channels=1).eval()
        out = model(torch.empty(2, 1, 299, 299))
    assert out.shape == (2, 10)


def test_xception_alias() -> None:
    assert get_entry("legacy_xception").name == "xception"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_loads_timm_state_dict_and_matches_its_output(name: str) -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model(TIMM_NAMES[name]).eval()
    for module in reference.modules():  # non-trivial BN statistics, so that a misplaced BN would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    ours = BUILDERS[name]().eval()
    ref_state = reference.state_dict()
    assert list(ours.state_dict()) == list(ref_state)
    ours.load_state_dict(ref_state, strict=True)
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-6)
