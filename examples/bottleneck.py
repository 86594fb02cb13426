"""A 3×3 convolution on 256 channels against ResNet's 1×1(64)–3×3(64)–1×1(256) bottleneck.

The bottleneck squeezes 256 channels to 64, runs the 3×3 there, and expands back to 256, with the input
added back (the residual). Weights (no biases, as in ResNet where BatchNorm follows each convolution):

    Conv3x3On256  3·3·256·256                             = 589,824
    Bottleneck    1·1·256·64 + 3·3·64·64 + 1·1·64·256      =  16,384 + 36,864 + 16,384 = 69,632

a ratio of 589,824 / 69,632 = 144/17 ≈ 8.47×, for parameters and (every convolution at stride 1 on the
same 56×56 grid) for MACs alike: 1,849,688,064 against 218,365,952 MACs at input 1,256,56,56. Both see
3×3 of their input: the 1×1 convolutions mix channels without widening the view (Network in Network).

    archinspect diff examples/bottleneck.py:Conv3x3On256 examples/bottleneck.py:Bottleneck --input 1,256,56,56
"""

import torch
from torch import nn


class Conv3x3On256(nn.Module):
    """A plain 3×3 convolution, 256 → 256 channels, padded to keep the spatial size."""

    def __init__(self, channels: int = 256) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class Bottleneck(nn.Module):
    """1×1 reduce (256 → 64), 3×3 (64 → 64), 1×1 expand (64 → 256), plus the identity shortcut."""

    def __init__(self, channels: int = 256, width: int = 64) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, width, kernel_size=1, bias=False)
        self.relu1 = nn.ReLU()
        self.conv = nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False)
        self.relu2 = nn.ReLU()
        self.expand = nn.Conv2d(width, channels, kernel_size=1, bias=False)
        self.relu3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(self.relu2(self.conv(self.relu1(self.reduce(x)))))
        return self.relu3(out + x)
