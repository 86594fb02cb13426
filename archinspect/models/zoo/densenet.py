"""DenseNet-BC for ImageNet, laid out as torchvision's ``densenet.py``.

Paper: Huang et al., "Densely Connected Convolutional Networks", CVPR 2017.

Blocks: ``DenseLayer`` (BN-ReLU-1×1 conv to ``bn_size * growth_rate``, BN-ReLU-3×3 conv to
``growth_rate``, its output concatenated to everything before it), ``DenseBlock`` (a run of layers),
``Transition`` (BN-ReLU-1×1 conv halving the channels, 2×2 average pool).

Module and parameter names equal torchvision's (``features.denseblock1.denselayer1.norm1.weight``,
``features.transition1.conv.weight``, ``classifier.weight``), so a torchvision ``state_dict`` loads with
no renaming. MACs below are for one 1×3×224×224 sample.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import Tensor, nn

from archinspect.models.zoo._registry import register_model


class DenseLayer(nn.Module):
    """BN-ReLU-1×1 conv (``bn_size * growth_rate``) then BN-ReLU-3×3 conv (``growth_rate`` new maps)."""

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        inner = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, inner, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(inner)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(inner, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: Tensor) -> Tensor:
        """Concatenation, BN-ReLU and the 1×1 conv: the part whose outputs grow with every layer."""
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    def forward(self, features: list[Tensor]) -> Tensor:
        if self.memory_efficient and any(f.requires_grad for f in features):
            # Checkpointed: keep only the inputs, recompute the bottleneck during backward (torchvision's trick).
            x = cp.checkpoint(self.bottleneck, *features, use_reentrant=False)
        else:
            x = self.bottleneck(*features)
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; layer i sees the block input and the maps of layers 0..i-1."""

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate, memory_efficient)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN-ReLU-1×1 conv (``out_channels``) and 2×2 average pool between dense blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """7×7/2 stem and 3×3/2 max pool, dense blocks with halving transitions, BN-ReLU, global pool, Linear."""

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_channels: int = 3,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        stem_conv = nn.Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)
        stem = [
            ("conv0", stem_conv),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]
        self.features = nn.Sequential(OrderedDict(stem))

        channels = num_init_features
        for i, num_layers in enumerate(block_config, start=1):
            self.features.add_module(
                f"denseblock{i}", DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate, memory_efficient)
            )
            channels += num_layers * growth_rate
            if i != len(block_config):
                self.features.add_module(f"transition{i}", Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.features(x), inplace=True)
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.classifier(x)


def _densenet(
    growth_rate: int,
    block_config: Sequence[int],
    num_init_features: int,
    num_classes: int = 1000,
    in_channels: int = 3,
    memory_efficient: bool = False,
) -> DenseNet:
    return DenseNet(
        growth_rate,
        block_config,
        num_init_features,
        num_classes=num_classes,
        in_channels=in_channels,
        memory_efficient=memory_efficient,
    )


_HUANG = "Huang et al., CVPR 2017"
_INPUT = (1, 3, 224, 224)


@register_model("densenet121", family="DenseNet", input=_INPUT, source=_HUANG, params=7_978_856, gmacs=2.834)
def densenet121(num_classes: int = 1000, in_channels: int = 3, memory_efficient: bool = False) -> DenseNet:
    return _densenet(32, (6, 12, 24, 16), 64, num_classes, in_channels, memory_efficient)


@register_model("densenet161", family="DenseNet", input=_INPUT, source=_HUANG, params=28_681_000, gmacs=7.728)
def densenet161(num_classes: int = 1000, in_channels: int = 3, memory_efficient: bool = False) -> DenseNet:
    return _densenet(48, (6, 12, 36, 24), 96, num_classes, in_channels, memory_efficient)


@register_model("densenet169", family="DenseNet", input=_INPUT, source=_HUANG, params=14_149_480, gmacs=3.36)
def densenet169(num_classes: int = 1000, in_channels: int = 3, memory_efficient: bool = False) -> DenseNet:
    return _densenet(32, (6, 12, 32, 32), 64, num_classes, in_channels, memory_efficient)


@register_model("densenet201", family="DenseNet", input=_INPUT, source=_HUANG, params=20_013_928, gmacs=4.291)
def densenet201(num_classes: int = 1000, in_channels: int = 3, memory_efficient: bool = False) -> DenseNet:
    return _densenet(32, (6, 12, 48, 32), 64, num_classes, in_channels, memory_efficient)
