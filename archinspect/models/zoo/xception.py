"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017).

The layout is timm's ``legacy_xception`` (the Keras port by tstandley and Cadene): an entry flow of
three strided blocks, a middle flow of eight 728-channel blocks of three separable convolutions, and an
exit flow of one strided block and two separable convolutions to 2048 channels. Parameter names follow
timm so that one of its state_dicts loads unchanged.

Blocks:
    SeparableConv2d   depthwise 3x3 then pointwise 1x1, both without bias.
    XceptionBlock     ``reps`` x (ReLU, SeparableConv2d, BN), a 3x3/2 max pool when strided, and a
                      residual: identity, or a strided 1x1 conv + BN where the shape changes.
"""

from __future__ import annotations

import torch
from torch import nn

from archinspect.models.zoo._registry import register_model


class SeparableConv2d(nn.Module):
    """A depthwise ``kernel_size`` convolution followed by a pointwise 1x1 one, neither with bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.conv1(x))


class XceptionBlock(nn.Module):
    """``reps`` separable convolutions with a residual connection.

    ``grow_first`` widens to ``out_channels`` at the first convolution, otherwise at the last one.
    The first block of the network starts without a ReLU, its input having just been activated.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        reps: int,
        stride: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
    ) -> None:
        super().__init__()
        # The residual path, registered first as in timm so that state_dict keys come in the same order.
        self.skip: nn.Conv2d | None = None
        self.skipbn: nn.BatchNorm2d | None = None
        if out_channels != in_channels or stride != 1:
            self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(out_channels)

        # Where the block widens: at its first convolution, or (exit flow) at its last.
        widths = [out_channels] * reps if grow_first else [in_channels] * (reps - 1) + [out_channels]
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            if i > 0 or start_with_relu:
                # The leading ReLU must not overwrite the block input: the residual still needs it.
                layers.append(nn.ReLU(inplace=i > 0))
            layers += [SeparableConv2d(channels, width), nn.BatchNorm2d(width)]
            channels = width
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, padding=1))
        self.rep = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.skip is None or self.skipbn is None else self.skipbn(self.skip(x))
        return self.rep(x) + identity


class Xception(nn.Module):
    """Xception for 299x299 ImageNet inputs: 12 blocks between a two-conv stem and a two-conv exit."""

    num_features = 2048

    def __init__(self, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.act2 = nn.ReLU(inplace=True)

        # Entry flow.
        self.block1 = XceptionBlock(64, 128, 2, stride=2, start_with_relu=False)
        self.block2 = XceptionBlock(128, 256, 2, stride=2)
        self.block3 = XceptionBlock(256, 728, 2, stride=2)
        # Middle flow: block4 .. block11.
        for i in range(4, 12):
            self.add_module(f"block{i}", XceptionBlock(728, 728, 3))
        # Exit flow.
        self.block12 = XceptionBlock(728, 1024, 2, stride=2, grow_first=False)
        self.conv3 = SeparableConv2d(1024, 1536)
        self.bn3 = nn.BatchNorm2d(1536)
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = SeparableConv2d(1536, self.num_features)
        self.bn4 = nn.BatchNorm2d(self.num_features)
        self.act4 = nn.ReLU(inplace=True)

        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = self.act3(self.bn3(self.conv3(x)))
        return self.act4(self.bn4(self.conv4(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.forward_features(x))
        return self.fc(torch.flatten(x, 1))


def _xception(num_classes: int, in_channels: int) -> Xception:
    return Xception(num_classes=num_classes, in_channels=in_channels)


@register_model(
    "xception",
    family="Xception",
    input=(1, 3, 299, 299),
    source="Chollet, CVPR 2017 (timm legacy_xception)",
    params=22_855_952,
    gmacs=8.357,
    aliases=("legacy-xception",),
)
def xception(num_classes: int = 1000, in_channels: int = 3) -> Xception:
    return _xception(num_classes=num_classes, in_channels=in_channels)
