"""DenseNet for CIFAR: Huang, Liu, van der Maaten and Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017.

A 3×3 stem convolution (16 channels; 2k for the bottleneck variants), three dense blocks on 32×32,
16×16 and 8×8 maps with transitions (BN-ReLU-1×1 conv-2×2 average pool) between them, then
BN-ReLU-global average pool-Linear. All convolutions are without bias.

- a plain dense layer is BN-ReLU-3×3 conv(k): (depth − 4) / 3 of them per block;
- a bottleneck (B) layer is BN-ReLU-1×1 conv(4k)-BN-ReLU-3×3 conv(k): (depth − 4) / 6 per block;
- compression (C) θ < 1 makes each transition emit ⌊θ·m⌋ of its m channels (DenseNet-BC: θ = 0.5).

Each layer's k new feature maps are concatenated to everything before it in the block, so a block
with m input channels and L layers emits m + L·k channels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from archinspect.errors import UsageError
from archinspect.models.zoo._registry import register_model

_SOURCE = "Huang et al., CVPR 2017 (CIFAR)"
_INPUT = (1, 3, 32, 32)


class DenseLayer(nn.Module):
    """BN-ReLU-3×3 conv(k), preceded by BN-ReLU-1×1 conv(4k) when ``bottleneck``; returns the k new maps."""

    def __init__(self, in_channels: int, growth_rate: int, bottleneck: bool) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        if bottleneck:
            inner = 4 * growth_rate
            self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(inner)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=False)
        self.bottleneck = bottleneck

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        if self.bottleneck:
            out = self.conv2(self.relu2(self.norm2(out)))
        return out


class DenseBlock(nn.Module):
    """``num_layers`` dense layers (``layer1``…), each fed the block input and all earlier layers' maps."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bottleneck: bool) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck)
            self.add_module(f"layer{i + 1}", layer)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Module):
    """BN-ReLU-1×1 conv-2×2 average pool: halves the map, maps ``in_channels`` to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.conv(self.relu(self.norm(x))))


class CifarDenseNet(nn.Module):
    """Children in forward order: ``conv1``, ``block1``, ``trans1``, ``block2``, ``trans2``, ``block3``,
    ``norm``, ``relu``, ``pool``, ``fc``."""

    def __init__(
        self,
        layers_per_block: int,
        growth_rate: int,
        stem_channels: int,
        bottleneck: bool,
        compression: float,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False)
        channels = stem_channels
        for i in (1, 2, 3):
            block = DenseBlock(layers_per_block, channels, growth_rate, bottleneck)
            self.add_module(f"block{i}", block)
            channels = block.out_channels
            if i < 3:
                out = math.floor(channels * compression)
                self.add_module(f"trans{i}", Transition(channels, out))
                channels = out
        self.norm = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.trans1(self.block1(x))
        x = self.trans2(self.block2(x))
        x = self.relu(self.norm(self.block3(x)))
        return self.fc(self.pool(x).flatten(1))


def _densenet_cifar(
    depth: int, growth_rate: int, bottleneck: bool, compression: float, num_classes: int, in_channels: int
) -> CifarDenseNet:
    layers_per_dense_unit = 6 if bottleneck else 3
    if isinstance(depth, str) and depth.strip().isdigit():
        depth = int(depth)
    if (
        not isinstance(depth, int)
        or isinstance(depth, bool)
        or depth < 4 + layers_per_dense_unit
        or ((depth - 4) % layers_per_dense_unit)
    ):
        kind = "bottleneck (depth-4)/6" if bottleneck else "plain (depth-4)/3"
        examples = "10, 16, 40, 100, 190, 250" if bottleneck else "7, 10, 40, 100"
        raise UsageError(
            f"CIFAR DenseNet depth must be {layers_per_dense_unit}n+4 so that {kind} layers fill each of the "
            f"3 blocks (e.g. {examples}); got {depth!r}"
        )
    if growth_rate < 1:
        raise UsageError(f"growth_rate must be a positive integer; got {growth_rate!r}")
    if not 0 < compression <= 1:
        raise UsageError(f"compression must be in (0, 1] (1 keeps every channel); got {compression!r}")
    stem = 2 * growth_rate if bottleneck else 16
    return CifarDenseNet(
        (depth - 4) // layers_per_dense_unit,
        growth_rate,
        stem,
        bool(bottleneck),
        float(compression),
        num_classes=num_classes,
        in_channels=in_channels,
    )


_COMMON = {"family": "DenseNet-CIFAR", "input": _INPUT, "source": _SOURCE, "num_classes": 10}
_BC_ALIAS = ("densenet-bc",)  # the notes' "DenseNet-BC" means L=100, k=12
_BC = {"bottleneck": True, "compression": 0.5}  # DenseNet-BC: bottleneck layers, halving transitions


@register_model("densenet-40", params=1_019_722, macs=264_812_928, **_COMMON)
@register_model("densenet-100", params=6_979_642, macs=1_769_516_448, depth=100, **_COMMON)
@register_model("densenet-100-24", params=27_249_082, macs=6_889_347_744, depth=100, growth_rate=24, **_COMMON)
@register_model("densenet-bc-100", params=769_162, macs=287_929_692, depth=100, aliases=_BC_ALIAS, **_BC, **_COMMON)
@register_model("densenet-bc-250", params=15_324_406, macs=5_418_785_724, depth=250, growth_rate=24, **_BC, **_COMMON)
@register_model("densenet-bc-190", params=25_624_430, macs=9_301_945_740, depth=190, growth_rate=40, **_BC, **_COMMON)
def densenet_cifar(
    depth: int = 40,
    growth_rate: int = 12,
    bottleneck: bool = False,
    compression: float = 1.0,
    num_classes: int = 10,
    in_channels: int = 3,
) -> CifarDenseNet:
    """A CIFAR DenseNet; each zoo entry above gives its own defaults (plain: depth 40, k=12)."""
    return _densenet_cifar(depth, growth_rate, bottleneck, compression, num_classes, in_channels)
