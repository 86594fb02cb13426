"""ResNet, ResNeXt and Wide ResNet for ImageNet, laid out as torchvision's ``resnet.py``.

Papers: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016; Xie et al.,
"Aggregated Residual Transformations for Deep Neural Networks" (ResNeXt), CVPR 2017; Zagoruyko &
Komodakis, "Wide Residual Networks", BMVC 2016.

Blocks: ``BasicBlock`` (two 3×3 convs) for the 18/34-layer nets; ``Bottleneck`` (1×1 - 3×3 - 1×1,
expansion 4) for the deeper ones, with the stride on the 3×3 ("ResNet v1.5") and ``groups`` /
``width_per_group`` covering ResNeXt and Wide ResNet. Both blocks take an optional ``attn_layer``
(a module factory called with the block's output channels and applied after the last BN, before the
residual sum), which is how ``senet.py`` builds SE-ResNeXt from the same blocks.

Module and parameter names equal torchvision's (``conv1``, ``bn1``, ``layer1.0.downsample.0``, ``fc``),
so a torchvision ``state_dict`` loads with no renaming. MACs below are for one 1×3×224×224 sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from archinspect.models.zoo._registry import register_model

# Builds the attention module of a block from its output channel count; None means no attention.
AttnFactory = Callable[[int], nn.Module]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 and no bias."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN pairs with an identity (or 1×1 projection) shortcut; output = ``planes``."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        attn_layer: AttnFactory | None = None,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        # Registered only when present, so that plain ResNets keep torchvision's exact state_dict keys.
        self.se = attn_layer(planes) if attn_layer is not None else None
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (grouped, strided) and 1×1 expand (×4), each followed by BN.

    The 3×3 has ``width = planes * base_width / 64 * groups`` channels: 64-wide with one group for
    ResNet, ``groups=32, base_width=4`` for ResNeXt-32x4d, ``base_width=128`` for Wide ResNet-50-2.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        attn_layer: AttnFactory | None = None,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        outplanes = planes * self.expansion
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, outplanes)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.relu = nn.ReLU(inplace=True)
        self.se = attn_layer(outplanes) if attn_layer is not None else None
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """7×7/2 stem, 3×3/2 max pool, four stages (64, 128, 256, 512 planes), global average pool, Linear."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        attn_layer: AttnFactory | None = None,
    ) -> None:
        super().__init__()
        self.block = block
        self.groups = groups
        self.base_width = width_per_group
        self.attn_layer = attn_layer
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: the first block changes resolution/width (projection shortcut), the rest keep it."""
        out_planes = planes * self.block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, out_planes, stride), nn.BatchNorm2d(out_planes))
        common = {"groups": self.groups, "base_width": self.base_width, "attn_layer": self.attn_layer}
        layers = [self.block(self.inplanes, planes, stride, downsample, **common)]
        self.inplanes = out_planes
        layers += [self.block(self.inplanes, planes, **common) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _resnet(
    block: type[BasicBlock | Bottleneck],
    layers: Sequence[int],
    num_classes: int = 1000,
    in_channels: int = 3,
    groups: int = 1,
    width_per_group: int = 64,
    attn_layer: AttnFactory | None = None,
) -> ResNet:
    return ResNet(
        block,
        layers,
        num_classes=num_classes,
        in_channels=in_channels,
        groups=groups,
        width_per_group=width_per_group,
        attn_layer=attn_layer,
    )


_HE = "He et al., CVPR 2016"
_INPUT = (1, 3, 224, 224)


@register_model("resnet18", family="ResNet", input=_INPUT, source=_HE, params=11_689_512, gmacs=1.814)
def resnet18(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels)


@register_model("resnet34", family="ResNet", input=_INPUT, source=_HE, params=21_797_672, gmacs=3.664)
def resnet34(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels)


@register_model("resnet50", family="ResNet", input=_INPUT, source=_HE, params=25_557_032, gmacs=4.089)
def resnet50(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels)


@register_model("resnet101", family="ResNet", input=_INPUT, source=_HE, params=44_549_160, gmacs=7.801)
def resnet101(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels)


@register_model("resnet152", family="ResNet", input=_INPUT, source=_HE, params=60_192_808, gmacs=11.514)
def resnet152(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels)


@register_model(
    "resnext50-32x4d",
    family="ResNet",
    input=_INPUT,
    source="Xie et al., CVPR 2017",
    params=25_028_904,
    gmacs=4.23,
)
def resnext50_32x4d(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, groups=32, width_per_group=4)


@register_model(
    "resnext101-32x8d",
    family="ResNet",
    input=_INPUT,
    source="Xie et al., CVPR 2017",
    params=88_791_336,
    gmacs=16.414,
)
def resnext101_32x8d(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, groups=32, width_per_group=8)


@register_model(
    "wide-resnet50-2",
    family="ResNet",
    input=_INPUT,
    source="Zagoruyko & Komodakis, BMVC 2016",
    params=68_883_240,
    gmacs=11.398,
)
def wide_resnet50_2(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, width_per_group=128)
