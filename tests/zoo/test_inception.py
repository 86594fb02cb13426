"""GoogLeNet and Inception v3: exact parameter counts and MACs (docs/reference/zoo.md), aux heads, variants."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from archinspect.models.zoo import get_entry

# (name, kwargs, params, exact MACs at the default input in eval mode, where the aux heads do not run)
CASES = [
    ("googlenet", {}, 6_624_904, 1_498_376_192),
    ("googlenet", {"aux_logits": True}, 13_004_888, 1_498_376_192),
    ("inception-v3", {}, 23_834_568, 5_713_216_096),
    ("inception-v3", {"aux_logits": True}, 27_161_264, 5_713_216_096),
]


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "kwargs", "params", "macs"), CASES)
def test_params_macs_and_output_shape(name: str, kwargs: dict[str, Any], params: int, macs: int) -> None:
    entry = get_entry(name)
    if not kwargs:
        assert entry.params == params
    with torch.device("meta"):
        model = entry.build(**kwargs).eval()
        assert _params(model) == params
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = model(torch.randn(*entry.default_input))
    assert counter.get_total_flops() // 2 == macs
    assert round(macs / 1e9, 3) == entry.gmacs
    assert out.shape == (1, 1000)


def test_default_inputs() -> None:
    assert get_entry("googlenet").default_input == (1, 3, 224, 224)
    assert get_entry("inception_v3").default_input == (1, 3, 299, 299)
    assert get_entry("inception-v1").name == "googlenet"


@pytest.mark.parametrize(
    ("name", "fc_in", "aux_fc_ins", "first_conv_per_channel"),
    [("googlenet", 1024, (1024, 1024), 64 * 7 * 7), ("inception-v3", 2048, (768,), 32 * 3 * 3)],
)
def test_num_classes_in_channels_and_aux(
    name: str, fc_in: int, aux_fc_ins: tuple[int, ...], first_conv_per_channel: int
) -> None:
    entry = get_entry(name)
    aux_params = dict((c[0], c[2]) for c in CASES if c[1])[name]
    with torch.device("meta"):
        plain = entry.build(num_classes=10, in_channels=1)
        aux = entry.build(num_classes=10, in_channels=1, aux_logits=True)
    fewer_inputs = 2 * first_conv_per_channel
    assert _params(plain) == entry.params - (fc_in + 1) * 990 - fewer_inputs
    assert _params(aux) == aux_params - sum(c + 1 for c in (fc_in, *aux_fc_ins)) * 990 - fewer_inputs


def test_googlenet_training_mode_returns_aux_logits() -> None:
    with torch.device("meta"):
        model = get_entry("googlenet").build(num_classes=10, aux_logits=True).train()
        out = model(torch.randn(2, 3, 224, 224))
        assert (out.logits.shape, out.aux_logits2.shape, out.aux_logits1.shape) == ((2, 10),) * 3
        # Without aux heads, or in eval mode, the output is the plain logits tensor.
        assert isinstance(get_entry("googlenet").build().train()(torch.randn(2, 3, 224, 224)), torch.Tensor)
        assert isinstance(model.eval()(torch.randn(2, 3, 224, 224)), torch.Tensor)


def test_inception_v3_training_mode_returns_aux_logits() -> None:
    with torch.device("meta"):
        model = get_entry("inception-v3").build(num_classes=10, aux_logits=True).train()
        out = model(torch.randn(2, 3, 299, 299))
    assert (out.logits.shape, out.aux_logits.shape) == ((2, 10), (2, 10))


def test_torchvision_parameter_names() -> None:
    with torch.device("meta"):
        g = get_entry("googlenet").build(aux_logits=True).state_dict()
        v3 = get_entry("inception-v3").build(aux_logits=True).state_dict()
    # torchvision's "5x5" path of GoogLeNet is a 3x3 convolution; the reference count depends on it.
    assert g["inception4e.branch3.1.conv.weight"].shape == (128, 32, 3, 3)
    assert g["aux2.fc1.weight"].shape == (1024, 2048)
    assert "conv1.bn.num_batches_tracked" in g
    assert v3["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert v3["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert v3["AuxLogits.conv1.conv.weight"].shape == (768, 128, 5, 5)
    assert len(g) == 364  # as torchvision googlenet(aux_logits=True)
    assert len(v3) == 580  # as torchvision inception_v3(aux_logits=True)


@pytest.mark.parametrize("name", ["googlenet", "inception-v3"])
def test_transform_input(name: str) -> None:
    from archinspect.models.zoo._blocks import imagenet_to_tf_range

    x = torch.rand(2, 3, 4, 4)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    expected = torch.cat([(x[:, c : c + 1] * std[c] + mean[c] - 0.5) / 0.5 for c in range(3)], 1)
    torch.testing.assert_close(imagenet_to_tf_range(x), expected)
    # the model applies it first: with transform_input its stem sees the re-normalised input
    model = get_entry(name).build(transform_input=True).eval()
    seen = []
    stem = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    stem.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    image = torch.rand(1, 3, 80, 80)
    with torch.no_grad():
        model(image)
    torch.testing.assert_close(seen[0], imagenet_to_tf_range(image))
    with pytest.raises(ValueError, match="in_channels=3"):
        get_entry(name).build(in_channels=1, transform_input=True)


def test_inception_v3_runs_on_cpu_at_75x75() -> None:
    torch.manual_seed(0)
    model = get_entry("inception-v3").build(num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 75, 75))
    assert out.shape == (1, 5)
    assert torch.isfinite(out).all()
