"""One 5×5 convolution against two stacked 3×3 (Inception v2/v3's factorisation), at C → C channels.

Both see a 5×5 window of their input (receptive field 5: 3 + (3 − 1) = 5), but the stack costs
2 · 9 = 18 weights per input–output channel pair instead of 25, so the 5×5 costs 25/18 ≈ 1.39× the MACs
and parameters of the pair — not the 25/9 ≈ 2.78× often quoted, which compares one 5×5 with a *single*
3×3 (``OneConv3x3``) whose receptive field is only 3. At C = 64 on 56×56 (no biases):

    Conv5x5     25·64·64 = 102,400 params · 321,126,400 MACs · RF 5
    TwoConv3x3  18·64·64 =  73,728 params · 231,211,008 MACs · RF 5
    OneConv3x3   9·64·64 =  36,864 params · 115,605,504 MACs · RF 3

    archinspect diff examples/factorized_conv.py:Conv5x5 examples/factorized_conv.py:TwoConv3x3 --input 1,64,56,56
"""

import torch
from torch import nn


class Conv5x5(nn.Module):
    """One 5×5 convolution, C → C channels, padded to keep the spatial size."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=5, padding=2, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class TwoConv3x3(nn.Module):
    """Two stacked 3×3 convolutions, C → C → C, with a ReLU between (as Inception v3 factorises)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.conv2(self.relu1(self.conv1(x))))


class OneConv3x3(nn.Module):
    """A single 3×3 convolution, C → C: a third of the cost, but it sees only 3×3."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))
