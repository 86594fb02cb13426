"""Dive into Deep Learning teaching networks: exact figures (docs/reference/zoo.md) and the shape tables
of docs/reference/d2l_tables.md."""

from __future__ import annotations

import pytest
import torch
from d2l_reference import ALEXNET_TABLE, RESNET18_TABLE, VGG11_TABLE
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archinspect.models.zoo import get_entry
from archinspect.models.zoo.d2l_blocks import DenseBlock, transition_block

# name -> (default input, params, exact MACs for one sample).
EXPECTED = {
    "d2l-lenet-bn": ((1, 1, 28, 28), 44_878, 281_640),
    "d2l-alexnet": ((1, 1, 224, 224), 46_764_746, 938_146_176),
    "d2l-vgg11": ((1, 1, 224, 224), 128_806_154, 7_547_232_256),
    "d2l-nin": ((1, 1, 224, 224), 1_992_166, 762_297_352),
    "d2l-googlenet": ((1, 1, 96, 96), 5_977_530, 293_463_040),
    "d2l-resnet18": ((1, 1, 224, 224), 11_178_378, 1_734_890_496),
    "d2l-densenet": ((1, 1, 96, 96), 758_226, 129_077_168),
}

# Not in docs/reference/d2l_tables.md; they follow from docs/reference/zoo.md's structure
# (b4 ends with the notes' 2x2 pool, padding 1).
GOOGLENET_TABLE = [
    ("Sequential", (1, 64, 24, 24)),
    ("Sequential", (1, 192, 12, 12)),
    ("Sequential", (1, 480, 6, 6)),
    ("Sequential", (1, 832, 4, 4)),
    ("Sequential", (1, 1024)),
    ("Linear", (1, 10)),
]
DENSENET_TABLE = [
    ("Sequential", (1, 64, 24, 24)),
    ("DenseBlock", (1, 192, 24, 24)),
    ("Sequential", (1, 96, 12, 12)),
    ("DenseBlock", (1, 224, 12, 12)),
    ("Sequential", (1, 112, 6, 6)),
    ("DenseBlock", (1, 240, 6, 6)),
    ("Sequential", (1, 120, 3, 3)),
    ("DenseBlock", (1, 248, 3, 3)),
    ("BatchNorm2d", (1, 248, 3, 3)),
    ("ReLU", (1, 248, 3, 3)),
    ("AdaptiveAvgPool2d", (1, 248, 1, 1)),
    ("Flatten", (1, 248)),
    ("Linear", (1, 10)),
]


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _build(name: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return get_entry(name).build(**kwargs)


def _top_level_table(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """(type name, output shape) of each top-level child, in the order they ran, via forward hooks."""
    table: list[tuple[str, tuple[int, ...]]] = []

    def record(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        table.append((type(module).__name__, tuple(output.shape)))

    handles = [child.register_forward_hook(record) for child in model.children()]
    try:
        with torch.device("meta"), torch.no_grad():
            model.eval()(torch.randn(*shape))
    finally:
        for h in handles:
            h.remove()
    return table


@pytest.mark.parametrize("name", list(EXPECTED))
def test_exact_params_macs_and_output(name: str) -> None:
    entry = get_entry(name)
    shape, params, macs = EXPECTED[name]
    assert (entry.default_input, entry.params, entry.macs, entry.num_classes) == (shape, params, macs, 10)
    model = _build(name)
    assert isinstance(model, nn.Sequential)
    assert _params(model) == params
    with torch.device("meta"), torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model.eval()(torch.randn(*shape))
    assert counter.get_total_flops() // 2 == macs
    assert out.shape == (1, 10)


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("d2l-alexnet", ALEXNET_TABLE),
        ("d2l-vgg11", VGG11_TABLE),
        ("d2l-resnet18", RESNET18_TABLE),
        ("d2l-googlenet", GOOGLENET_TABLE),
        ("d2l-densenet", DENSENET_TABLE),
    ],
)
def test_top_level_children_match_the_books_shape_tables(name: str, table: list) -> None:
    model = _build(name)
    assert len(list(model.children())) == len(table)
    assert _top_level_table(model, get_entry(name).default_input) == table


def test_lenet_and_nin_top_level_layers() -> None:
    lenet = _top_level_table(_build("d2l-lenet-bn"), (1, 1, 28, 28))
    assert [t for t, _ in lenet][:4] == ["Conv2d", "BatchNorm2d", "Sigmoid", "AvgPool2d"]
    assert lenet[7] == ("AvgPool2d", (1, 16, 4, 4))
    assert lenet[8] == ("Flatten", (1, 256))
    assert len(lenet) == 16
    nin = _top_level_table(_build("d2l-nin"), (1, 1, 224, 224))
    assert [s for _, s in nin] == [
        (1, 96, 54, 54),
        (1, 96, 26, 26),
        (1, 256, 26, 26),
        (1, 256, 12, 12),
        (1, 384, 12, 12),
        (1, 384, 5, 5),
        (1, 384, 5, 5),
        (1, 10, 5, 5),
        (1, 10, 1, 1),
        (1, 10),
    ]


def test_dense_block_and_transition_block_shapes() -> None:
    # docs/reference/d2l_tables.md: 2 conv blocks, 3 -> 3 + 2 x 10 channels; then a transition 23 -> 10 halves the map.
    block = DenseBlock(2, 3, 10)
    with torch.no_grad():
        y = block(torch.rand(4, 3, 8, 8))
        assert y.shape == (4, 23, 8, 8)
        assert block.out_channels == 23
        assert transition_block(23, 10)(y).shape == (4, 10, 4, 4)


def test_num_classes_and_in_channels() -> None:
    # d2l-resnet18: two more input channels add 2 x 64 x 7 x 7 stem weights; 100 classes add 90 x 513.
    model = _build("d2l-resnet18", num_classes=100, in_channels=3)
    assert _params(model) == 11_178_378 + 2 * 64 * 49 + 90 * 513
    table = _top_level_table(model, (1, 3, 224, 224))
    assert table[-1] == ("Linear", (1, 100))
    # NiN's classes are the channels of its last block: 3x3 conv (384 -> k) and two k x k 1x1 convs.
    nin = _build("d2l-nin", num_classes=20)
    last_block = {k: 384 * 9 * k + k + 2 * (k * k + k) for k in (10, 20)}
    assert _params(nin) - 1_992_166 == last_block[20] - last_block[10]


def test_small_models_run_on_cpu() -> None:
    for name in ("d2l-lenet-bn", "d2l-densenet"):
        entry = get_entry(name)
        model = entry.build().eval()
        with torch.no_grad():
            out = model(torch.randn(2, *entry.default_input[1:]))
        assert out.shape == (2, 10)
        assert torch.isfinite(out).all()
