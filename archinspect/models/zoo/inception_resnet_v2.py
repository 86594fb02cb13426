"""Inception-ResNet-v2 (Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning", AAAI 2017).

The layout is timm's ``inception_resnet_v2`` (Cadene's port of the TensorFlow-Slim model): a stem to
192 x 35 x 35, Mixed_5b, 10 x Block35, Mixed_6a, 20 x Block17, Mixed_7a, 9 x Block8 and a final Block8
without ReLU, then a 1x1 convolution to 1536 channels. Parameter names follow timm so that one of its
state_dicts loads unchanged.

Blocks:
    BasicConv2d   conv (no bias) + BN (eps 1e-3) + ReLU, shared with the other Inception networks (``_blocks``).
    Block35/17/8  residual Inception blocks at 35x35 / 17x17 / 8x8: parallel branches concatenated, a
                  1x1 convolution with bias back to the input width, scaled (0.17 / 0.10 / 0.20) and
                  added to the input, then ReLU.
    Mixed_5b/6a/7a  the plain Inception block and the two grid reductions between the residual stages.
"""

from __future__ import annotations

import torch
from torch import nn

from archinspect.models.zoo._blocks import BasicConv2d
from archinspect.models.zoo._registry import register_model


class Mixed_5b(nn.Module):  # timm's class name
    """192 -> 320 channels at 35x35: 1x1, 5x5, double 3x3 and pooled 1x1 branches."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(192, 96, 1)
        self.branch1 = nn.Sequential(BasicConv2d(192, 48, 1), BasicConv2d(48, 64, 5, padding=2))
        self.branch2 = nn.Sequential(
            BasicConv2d(192, 64, 1), BasicConv2d(64, 96, 3, padding=1), BasicConv2d(96, 96, 3, padding=1)
        )
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), BasicConv2d(192, 64, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class _ResidualInception(nn.Module):
    """Concatenated branches, a 1x1 projection (with bias) back to the input width, scaled, added to the
    input, then ReLU (absent from the very last block)."""

    def __init__(
        self, branches: dict[str, nn.Module], concat: int, width: int, scale: float, relu: bool = True
    ) -> None:
        super().__init__()
        for name, branch in branches.items():
            self.add_module(name, branch)
        self.branch_names = tuple(branches)
        self.scale = scale
        self.conv2d = nn.Conv2d(concat, width, 1)
        self.act: nn.Module = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([getattr(self, name)(x) for name in self.branch_names], 1)
        return self.act(self.conv2d(out) * self.scale + x)


class Block35(_ResidualInception):
    """Inception-ResNet-A: 320 channels at 35x35, branches 1x1 / 3x3 / double 3x3 (32 + 32 + 64)."""

    def __init__(self, scale: float = 1.0) -> None:
        branches = {
            "branch0": BasicConv2d(320, 32, 1),
            "branch1": nn.Sequential(BasicConv2d(320, 32, 1), BasicConv2d(32, 32, 3, padding=1)),
            "branch2": nn.Sequential(
                BasicConv2d(320, 32, 1), BasicConv2d(32, 48, 3, padding=1), BasicConv2d(48, 64, 3, padding=1)
            ),
        }
        super().__init__(branches, 32 + 32 + 64, 320, scale)


class Block17(_ResidualInception):
    """Inception-ResNet-B: 1088 channels at 17x17, branches 1x1 / factorised 7x7 (192 + 192)."""

    def __init__(self, scale: float = 1.0) -> None:
        branches = {
            "branch0": BasicConv2d(1088, 192, 1),
            "branch1": nn.Sequential(
                BasicConv2d(1088, 128, 1),
                BasicConv2d(128, 160, (1, 7), padding=(0, 3)),
                BasicConv2d(160, 192, (7, 1), padding=(3, 0)),
            ),
        }
        super().__init__(branches, 192 + 192, 1088, scale)


class Block8(_ResidualInception):
    """Inception-ResNet-C: 2080 channels at 8x8, branches 1x1 / factorised 3x3 (192 + 256)."""

    def __init__(self, scale: float = 1.0, relu: bool = True) -> None:
        branches = {
            "branch0": BasicConv2d(2080, 192, 1),
            "branch1": nn.Sequential(
                BasicConv2d(2080, 192, 1),
                BasicConv2d(192, 224, (1, 3), padding=(0, 1)),
                BasicConv2d(224, 256, (3, 1), padding=(1, 0)),
            ),
        }
        super().__init__(branches, 192 + 256, 2080, scale, relu=relu)


class Mixed_6a(nn.Module):  # timm's class name
    """320 -> 1088 channels, 35x35 -> 17x17."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(320, 384, 3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(320, 256, 1), BasicConv2d(256, 256, 3, padding=1), BasicConv2d(256, 384, 3, stride=2)
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):  # timm's class name
    """1088 -> 2080 channels, 17x17 -> 8x8."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(1088, 256, 1), BasicConv2d(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(1088, 256, 1), BasicConv2d(256, 288, 3, stride=2))
        self.branch2 = nn.Sequential(
            BasicConv2d(1088, 256, 1), BasicConv2d(256, 288, 3, padding=1), BasicConv2d(288, 320, 3, stride=2)
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV2(nn.Module):
    """Inception-ResNet-v2 for 299x299 inputs; ``blocks`` counts the Block35 / Block17 / Block8 repeats
    (the final ReLU-free Block8 not included)."""

    num_features = 1536

    def __init__(
        self, blocks: tuple[int, int, int] = (10, 20, 9), num_classes: int = 1000, in_channels: int = 3
    ) -> None:
        super().__init__()
        n_a, n_b, n_c = blocks
        self.conv2d_1a = BasicConv2d(in_channels, 32, 3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = Mixed_5b()
        self.repeat = nn.Sequential(*(Block35(scale=0.17) for _ in range(n_a)))
        self.mixed_6a = Mixed_6a()
        self.repeat_1 = nn.Sequential(*(Block17(scale=0.10) for _ in range(n_b)))
        self.mixed_7a = Mixed_7a()
        self.repeat_2 = nn.Sequential(*(Block8(scale=0.20) for _ in range(n_c)))
        self.block8 = Block8(relu=False)
        self.conv2d_7b = BasicConv2d(2080, self.num_features, 1)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classif = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.conv2d_4a(self.conv2d_3b(self.maxpool_3a(x)))
        x = self.repeat(self.mixed_5b(self.maxpool_5a(x)))
        x = self.repeat_1(self.mixed_6a(x))
        x = self.block8(self.repeat_2(self.mixed_7a(x)))
        return self.conv2d_7b(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.forward_features(x))
        return self.classif(torch.flatten(x, 1))


def _inception_resnet_v2(blocks: tuple[int, int, int], num_classes: int, in_channels: int) -> InceptionResnetV2:
    return InceptionResnetV2(blocks, num_classes=num_classes, in_channels=in_channels)


@register_model(
    "inception-resnet-v2",
    family="Inception-ResNet-v2",
    input=(1, 3, 299, 299),
    source="Szegedy et al., AAAI 2017 (timm inception_resnet_v2)",
    params=55_843_464,
    gmacs=13.156,
)
def inception_resnet_v2(num_classes: int = 1000, in_channels: int = 3) -> InceptionResnetV2:
    return _inception_resnet_v2((10, 20, 9), num_classes=num_classes, in_channels=in_channels)
