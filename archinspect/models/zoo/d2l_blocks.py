"""The building blocks of the Dive into Deep Learning teaching networks (PyTorch edition).

Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, chapter "Modern Convolutional Neural Networks".
Written with explicit input channels (the book's newer code uses ``nn.LazyConv2d``) so that a model
is fully built before its first forward pass and its parameters can be counted on the meta device.
Convolutions and linears carry a bias, as in the book.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """``num_convs`` × (3×3 conv, padding 1 + ReLU), then a 2×2 max pool that halves the map."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(2, stride=2))
    return nn.Sequential(*layers)


def nin_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int,
    padding: int,
) -> nn.Sequential:
    """A convolution followed by two 1×1 convolutions (per-pixel MLP), each with a ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(),
    )


class Inception(nn.Module):
    """Four parallel paths concatenated on channels: c1 + c2[1] + c3[1] + c4 output channels.

    ``p1``: 1×1 conv; ``p2``: 1×1 → 3×3 (padding 1); ``p3``: 1×1 → 5×5 (padding 2);
    ``p4``: 3×3 max pool (stride 1, padding 1) → 1×1 conv. ReLU after every convolution.
    """

    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int) -> None:
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, 1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], 1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], 3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], 1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], 5, padding=2)
        self.p4_1 = nn.MaxPool2d(3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, 1)

    def forward(self, x: Tensor) -> Tensor:
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


class Residual(nn.Module):
    """Two 3×3 conv-BN pairs added to the input (through a 1×1 conv when ``use_1x1conv``), then ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        use_1x1conv: bool = False,
        stride: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, 1, stride=stride) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        return F.relu(y + x)


def resnet_block(
    in_channels: int,
    out_channels: int,
    num_residuals: int,
    first_block: bool = False,
) -> list[nn.Module]:
    """``num_residuals`` residual blocks; unless ``first_block``, the first halves the map (1×1 shortcut)."""
    blocks: list[nn.Module] = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blocks.append(Residual(in_channels, out_channels, use_1x1conv=True, stride=2))
        else:
            blocks.append(Residual(out_channels, out_channels))
    return blocks


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """DenseNet's BN-ReLU-3×3 conv (padding 1)."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
    )


class DenseBlock(nn.Module):
    """``num_convs`` conv blocks; each one's output is concatenated to its input on channels.

    Emits ``in_channels + num_convs * num_channels`` channels on the same map (``out_channels``).
    """

    def __init__(self, num_convs: int, in_channels: int, num_channels: int) -> None:
        super().__init__()
        blocks = [conv_block(in_channels + i * num_channels, num_channels) for i in range(num_convs)]
        self.net = nn.Sequential(*blocks)
        self.out_channels = in_channels + num_convs * num_channels

    def forward(self, x: Tensor) -> Tensor:
        for blk in self.net:
            x = torch.cat((x, blk(x)), dim=1)
        return x


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN-ReLU-1×1 conv-2×2 average pool: changes the channels and halves the map."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 1),
        nn.AvgPool2d(2, stride=2),
    )
