"""ResNet for CIFAR-10: He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016, §4.2.

A 3×3 stem convolution (16 channels) on 32×32 inputs, three stages of ``n`` basic blocks with 16, 32
and 64 channels on 32×32, 16×16 and 8×8 maps, global average pooling and one Linear layer:
depth = 6n + 2 weighted layers (resnet20, 32, 44, 56, 110, 1202).

Shortcuts are the paper's option A: where a block halves the map and doubles the channels, the
identity is subsampled with stride 2 and the new channels are zero-padded, so shortcuts hold no
parameters. All convolutions are without bias.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from archinspect.errors import UsageError
from archinspect.models.zoo._registry import register_model

_SOURCE = "He et al., CVPR 2016 (§4.2, CIFAR-10)"
_INPUT = (1, 3, 32, 32)
_STAGE_CHANNELS = (16, 32, 64)


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: keep every ``stride``-th pixel and zero-pad the channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        extra = self.out_channels - self.in_channels
        # Split the new channels evenly before and after the old ones (He et al. only say "zero entries").
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN pairs with a ReLU between, added to the (option-A) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = ZeroPadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Stem conv-BN-ReLU, ``layer1``–``layer3`` of ``blocks_per_stage`` basic blocks each, pool, ``fc``."""

    def __init__(self, blocks_per_stage: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, _STAGE_CHANNELS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(_STAGE_CHANNELS[0])
        self.relu = nn.ReLU(inplace=True)
        channels = _STAGE_CHANNELS[0]
        for i, width in enumerate(_STAGE_CHANNELS, start=1):
            blocks = []
            for j in range(blocks_per_stage):
                stride = 2 if i > 1 and j == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def _resnet_cifar(depth: int, num_classes: int, in_channels: int) -> CifarResNet:
    if isinstance(depth, str) and depth.strip().isdigit():
        depth = int(depth)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or (depth - 2) % 6:
        accepted = "6n+2 with n >= 1 (e.g. 8, 14, 20, 32, 44, 56, 110, 1202)"
        raise UsageError(f"CIFAR ResNet depth must be {accepted}; got {depth!r}")
    return CifarResNet((depth - 2) // 6, num_classes=num_classes, in_channels=in_channels)


_COMMON = {"family": "ResNet-CIFAR", "input": _INPUT, "source": _SOURCE, "num_classes": 10}


@register_model("resnet20", params=269_722, macs=40_551_040, **_COMMON)
@register_model("resnet32", params=464_154, macs=68_862_592, depth=32, **_COMMON)
@register_model("resnet44", params=658_586, macs=97_174_144, depth=44, **_COMMON)
@register_model("resnet56", params=853_018, macs=125_485_696, depth=56, **_COMMON)
@register_model("resnet110", params=1_727_962, macs=252_887_680, depth=110, **_COMMON)
@register_model("resnet1202", params=19_421_274, macs=2_829_238_912, depth=1202, **_COMMON)
def resnet_cifar(depth: int = 20, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """A CIFAR ResNet of ``depth`` = 6n+2 layers; each zoo entry above gives its own default depth."""
    return _resnet_cifar(depth, num_classes, in_channels)
