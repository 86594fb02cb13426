"""Inception-v4 (Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections
on Learning", AAAI 2017).

The layout is timm's ``inception_v4`` (Cadene's port of the TensorFlow-Slim model): a stem of three
convolutions and three two-branch mixes (Mixed3a/4a/5a), then 4 x InceptionA, ReductionA, 7 x InceptionB,
ReductionB, 3 x InceptionC, all in one ``features`` sequence. Parameter names follow timm so that one of
its state_dicts loads unchanged.

Blocks:
    BasicConv2d   conv (no bias) + BN (eps 1e-3, as TF-Slim) + ReLU (``_blocks``); unpadded unless told.
    Mixed3a/4a/5a the stem's concatenations of a pooled or convolved branch with a convolved one.
    InceptionA/B/C  four parallel branches at 35x35 / 17x17 / 8x8; B factorises 7x7 into 1x7 and 7x1,
                  C splits its 3x3s into concatenated 1x3 and 3x1 halves.
    ReductionA/B  grid reductions: strided convolutions beside a 3x3/2 max pool.
"""

from __future__ import annotations

import torch
from torch import nn

from archinspect.models.zoo._blocks import BasicConv2d
from archinspect.models.zoo._registry import register_model


def _conv_1x7(in_channels: int, out_channels: int) -> BasicConv2d:
    return BasicConv2d(in_channels, out_channels, (1, 7), padding=(0, 3))


def _conv_7x1(in_channels: int, out_channels: int) -> BasicConv2d:
    return BasicConv2d(in_channels, out_channels, (7, 1), padding=(3, 0))


def _avg_pool_3x3() -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class Mixed3a(nn.Module):
    """64 -> 160 channels: 3x3/2 max pool beside a 3x3/2 convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, stride=2)
        self.conv = BasicConv2d(64, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.maxpool(x), self.conv(x)), 1)


class Mixed4a(nn.Module):
    """160 -> 192 channels: two unpadded 3x3 branches, one through a factorised 7x7."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(160, 64, 1), BasicConv2d(64, 96, 3))
        self.branch1 = nn.Sequential(
            BasicConv2d(160, 64, 1), _conv_1x7(64, 64), _conv_7x1(64, 64), BasicConv2d(64, 96, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x)), 1)


class Mixed5a(nn.Module):
    """192 -> 384 channels: 3x3/2 convolution beside a 3x3/2 max pool."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = BasicConv2d(192, 192, 3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.conv(x), self.maxpool(x)), 1)


class InceptionA(nn.Module):
    """384 -> 384 channels at 35x35: 1x1, 3x3, double 3x3 and pooled 1x1 branches of 96 each."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(384, 96, 1)
        self.branch1 = nn.Sequential(BasicConv2d(384, 64, 1), BasicConv2d(64, 96, 3, padding=1))
        self.branch2 = nn.Sequential(
            BasicConv2d(384, 64, 1), BasicConv2d(64, 96, 3, padding=1), BasicConv2d(96, 96, 3, padding=1)
        )
        self.branch3 = nn.Sequential(_avg_pool_3x3(), BasicConv2d(384, 96, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class ReductionA(nn.Module):
    """384 -> 1024 channels, 35x35 -> 17x17."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(384, 384, 3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(384, 192, 1), BasicConv2d(192, 224, 3, padding=1), BasicConv2d(224, 256, 3, stride=2)
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class InceptionB(nn.Module):
    """1024 -> 1024 channels at 17x17, with 7x7 convolutions factorised into 1x7 and 7x1."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(1024, 384, 1)
        self.branch1 = nn.Sequential(BasicConv2d(1024, 192, 1), _conv_1x7(192, 224), _conv_7x1(224, 256))
        self.branch2 = nn.Sequential(
            BasicConv2d(1024, 192, 1),
            _conv_7x1(192, 192),
            _conv_1x7(192, 224),
            _conv_7x1(224, 224),
            _conv_1x7(224, 256),
        )
        self.branch3 = nn.Sequential(_avg_pool_3x3(), BasicConv2d(1024, 128, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class ReductionB(nn.Module):
    """1024 -> 1536 channels, 17x17 -> 8x8."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(1024, 192, 1), BasicConv2d(192, 192, 3, stride=2))
        self.branch1 = nn.Sequential(
            BasicConv2d(1024, 256, 1),
            _conv_1x7(256, 256),
            _conv_7x1(256, 320),
            BasicConv2d(320, 320, 3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class InceptionC(nn.Module):
    """1536 -> 1536 channels at 8x8; branches 1 and 2 end in parallel 1x3 and 3x1 halves."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(1536, 256, 1)
        self.branch1_0 = BasicConv2d(1536, 384, 1)
        self.branch1_1a = BasicConv2d(384, 256, (1, 3), padding=(0, 1))
        self.branch1_1b = BasicConv2d(384, 256, (3, 1), padding=(1, 0))
        self.branch2_0 = BasicConv2d(1536, 384, 1)
        self.branch2_1 = BasicConv2d(384, 448, (3, 1), padding=(1, 0))
        self.branch2_2 = BasicConv2d(448, 512, (1, 3), padding=(0, 1))
        self.branch2_3a = BasicConv2d(512, 256, (1, 3), padding=(0, 1))
        self.branch2_3b = BasicConv2d(512, 256, (3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(_avg_pool_3x3(), BasicConv2d(1536, 256, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.branch1_0(x)
        x1 = torch.cat((self.branch1_1a(x1), self.branch1_1b(x1)), 1)
        x2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        x2 = torch.cat((self.branch2_3a(x2), self.branch2_3b(x2)), 1)
        return torch.cat((self.branch0(x), x1, x2, self.branch3(x)), 1)


class InceptionV4(nn.Module):
    """Inception-v4 for 299x299 inputs: ``features`` to 1536 x 8 x 8, average pool, ``last_linear``."""

    num_features = 1536

    def __init__(self, blocks: tuple[int, int, int] = (4, 7, 3), num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        n_a, n_b, n_c = blocks
        self.features = nn.Sequential(
            BasicConv2d(in_channels, 32, 3, stride=2),
            BasicConv2d(32, 32, 3),
            BasicConv2d(32, 64, 3, padding=1),
            Mixed3a(),
            Mixed4a(),
            Mixed5a(),
            *(InceptionA() for _ in range(n_a)),
            ReductionA(),
            *(InceptionB() for _ in range(n_b)),
            ReductionB(),
            *(InceptionC() for _ in range(n_c)),
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.last_linear = nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.features(x))
        return self.last_linear(torch.flatten(x, 1))


def _inception_v4(blocks: tuple[int, int, int], num_classes: int, in_channels: int) -> InceptionV4:
    return InceptionV4(blocks, num_classes=num_classes, in_channels=in_channels)


@register_model(
    "inception-v4",
    family="Inception-v4",
    input=(1, 3, 299, 299),
    source="Szegedy et al., AAAI 2017 (timm inception_v4)",
    params=42_679_816,
    gmacs=12.254,
)
def inception_v4(num_classes: int = 1000, in_channels: int = 3) -> InceptionV4:
    return _inception_v4((4, 7, 3), num_classes=num_classes, in_channels=in_channels)
