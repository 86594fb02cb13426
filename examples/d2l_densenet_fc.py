"""The notes' "what size does the fc layer need?" DenseNet, for 3×32×32 (CIFAR-sized) inputs.

A 16-channel 3×3 stem, three dense blocks of 4 BN-ReLU-3×3 conv blocks (growth rate 12) with halving
transitions (BN-ReLU-1×1 conv-2×2 average pool) after the first two, then BN-ReLU,
``AdaptiveAvgPool2d(10)``, flatten and ``fc = nn.Linear(?, 10)``.

Channels: 16 → 64 → 32 → 80 → 40 → 88, so ``fc`` receives 88 × 10 × 10 = 8800 features.

- ``DenseNetWrongFC``: the learner's guess ``nn.Linear(1000, 10)``; its forward fails at ``fc``.
- ``DenseNet``: the fixed model, ``in_features`` computed from the channel count.

    archinspect fit examples/d2l_densenet_fc.py:DenseNetWrongFC --input 1,3,32,32   # says fc needs 8800
    archinspect shapes examples/d2l_densenet_fc.py:DenseNet --input 1,3,32,32
"""

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
    )


class DenseBlock(nn.Module):
    """Each conv block's output is concatenated to its input along the channels."""

    def __init__(self, num_convs: int, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        blocks = [conv_block(in_channels + i * growth_rate, growth_rate) for i in range(num_convs)]
        self.net = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.net:
            x = torch.cat((x, blk(x)), dim=1)
        return x


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2),
    )


class DenseNet(nn.Module):
    def __init__(self, num_classes: int = 10, fc_in_features: int | None = None) -> None:
        super().__init__()
        growth_rate, num_convs = 12, 4
        channels = 16
        self.stem = nn.Conv2d(3, channels, kernel_size=3, padding=1)
        self.block1 = DenseBlock(num_convs, channels, growth_rate)
        channels += num_convs * growth_rate  # 64
        self.trans1 = transition_block(channels, channels // 2)
        channels //= 2  # 32
        self.block2 = DenseBlock(num_convs, channels, growth_rate)
        channels += num_convs * growth_rate  # 80
        self.trans2 = transition_block(channels, channels // 2)
        channels //= 2  # 40
        self.block3 = DenseBlock(num_convs, channels, growth_rate)
        channels += num_convs * growth_rate  # 88
        self.norm = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(10)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(fc_in_features or channels * 10 * 10, num_classes)  # 88 * 10 * 10 = 8800

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.block1(self.stem(x)))
        x = self.trans2(self.block2(x))
        x = self.pool(self.relu(self.norm(self.block3(x))))
        return self.fc(self.flatten(x))


class DenseNetWrongFC(DenseNet):
    """The same network with the learner's guess for the fc layer: 1000 in_features instead of 8800."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes=num_classes)
        self.fc = nn.Linear(1000, num_classes)
