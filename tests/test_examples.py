"""The example user files under examples/: each loads on its own and behaves as its docstring says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(stem: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{stem}", EXAMPLES / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _macs(model: nn.Module, *shape: int) -> tuple[int, torch.Size]:
    with torch.device("meta"), torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.eval()(torch.randn(*shape))
    return counter.get_total_flops() // 2, out.shape


def test_every_example_has_a_docstring_and_imports_no_archinspect() -> None:
    files = sorted(EXAMPLES.glob("*.py"))
    assert {f.stem for f in files} >= {"d2l_alexnet", "d2l_densenet_fc", "custom_attention", "wrong_channels"}
    for f in files:
        text = f.read_text()
        assert text.startswith('"""'), f.name
        assert "import archinspect" not in text and "from archinspect" not in text, f.name


def test_d2l_alexnet_instance_and_factory_agree() -> None:
    module = _load("d2l_alexnet")
    with torch.device("meta"):
        built = module.alexnet()
    for model in (module.net, built):
        assert isinstance(model, nn.Sequential) and len(model) == 21
        assert _params(model) == 46_764_746
        assert _macs(model.to("meta"), 1, 1, 224, 224) == (938_146_176, torch.Size([1, 10]))
    assert [type(m) for m in module.net] == [type(m) for m in built]


def test_d2l_densenet_fc_right_one_runs_and_needs_8800() -> None:
    module = _load("d2l_densenet_fc")
    model = module.DenseNet().eval()
    assert model.fc.in_features == 8800
    shapes: dict[str, tuple[int, ...]] = {}
    for name, child in model.named_children():
        child.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert shapes["block1"] == (2, 64, 32, 32)
    assert shapes["trans1"] == (2, 32, 16, 16)
    assert shapes["trans2"] == (2, 40, 8, 8)
    assert shapes["block3"] == (2, 88, 8, 8)
    assert shapes["pool"] == (2, 88, 10, 10)
    assert shapes["flatten"] == (2, 8800)


def test_d2l_densenet_fc_wrong_guess_fails_at_fc() -> None:
    module = _load("d2l_densenet_fc")
    model = module.DenseNetWrongFC().eval()
    assert model.fc.in_features == 1000
    with torch.no_grad(), pytest.raises(RuntimeError, match="8800 and 1000x10"):
        model(torch.randn(2, 3, 32, 32))
    # Apart from fc, the two classes are the same network.
    assert _params(model) - 10_010 == _params(module.DenseNet()) - 88_010


def test_custom_attention_runs_and_counts_163840_macs_on_meta() -> None:
    module = _load("custom_attention")
    model = module.TinyAttention().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 16, 32))
    assert out.shape == (2, 16, 32)
    assert _params(model) == 32 * 96 + 4 * 8 * 32
    # The docstring's sum: projection 98,304 + attention 32,768 + einsum projection 32,768.
    with torch.device("meta"):
        meta_model = module.TinyAttention()
    assert _macs(meta_model, 2, 16, 32) == (163_840, torch.Size([2, 16, 32]))


def test_wrong_channels_fails_and_the_documented_fix_runs() -> None:
    module = _load("wrong_channels")
    model = module.TwoMistakes().eval()
    with torch.no_grad(), pytest.raises(RuntimeError, match="expected input.*to have 8 channels"):
        model(torch.randn(1, 3, 32, 32))
    model.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
    with torch.no_grad(), pytest.raises(RuntimeError, match="2048 and 1568x10"):
        model(torch.randn(1, 3, 32, 32))
    model.fc = nn.Linear(2048, 10)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
