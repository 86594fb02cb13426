"""Small building blocks and initialisers shared by several zoo families.

``BasicConv2d`` is the conv (no bias) - BatchNorm (eps 1e-3) - ReLU unit of the Inception networks,
named ``conv`` / ``bn`` as in torchvision so that its state_dict keys match.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BasicConv2d(nn.Module):
    """Conv2d without bias, BatchNorm2d, ReLU. ``kernel_size``/``stride``/``padding`` as for ``nn.Conv2d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def clipped_normal_(tensor: Tensor, std: float) -> Tensor:
    """Fill ``tensor`` in place from N(0, std^2) clipped to +-2 std; returns it.

    A cheap stand-in for ``nn.init.trunc_normal_``, whose ``erfinv`` takes seconds per 10M weights
    on CPU; the initial weights of a zoo model only need a sensible scale.
    """
    with torch.no_grad():
        return tensor.normal_(0.0, std).clamp_(-2 * std, 2 * std)


def imagenet_to_tf_range(x: Tensor) -> Tensor:
    """Re-normalise an input prepared with ImageNet mean/std to the [-1, 1] range of the original
    TensorFlow Inception weights: ``(x * std + mean - 0.5) / 0.5`` per channel (torchvision's
    ``transform_input``)."""
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * (std / 0.5) + (mean - 0.5) / 0.5
