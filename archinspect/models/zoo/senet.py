"""Squeeze-and-Excitation ResNeXt, counted as timm's ``seresnext50_32x4d``.

Paper: Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.

Block: ``SqueezeExcite`` (global average pool, 1×1 conv to ``channels / 16`` rounded to a multiple of 8,
ReLU, 1×1 conv back, sigmoid gate; both convs with bias, as timm's ``SEModule``), placed after the last
BN of every ``resnet.Bottleneck`` through its ``attn_layer`` argument. The network is otherwise
ResNeXt-50 32x4d, so the names (``layer1.0.se.fc1.weight`` ...) match timm's ``state_dict``.
MACs below are for one 1×3×224×224 sample.
"""

from __future__ import annotations

from torch import Tensor, nn

from archinspect.models.zoo._registry import register_model
from archinspect.models.zoo.resnet import Bottleneck, ResNet, _resnet


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """Channel gate: ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))``; fc1/fc2 are 1×1 convs with bias."""

    def __init__(self, channels: int, reduction: int = 16, divisor: int = 8) -> None:
        super().__init__()
        reduced = make_divisible(channels / reduction, divisor)
        self.fc1 = nn.Conv2d(channels, reduced, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * self.gate(scale)


@register_model(
    "se-resnext50-32x4d",
    family="SENet",
    input=(1, 3, 224, 224),
    source="Hu et al., CVPR 2018",
    params=27_559_896,
    gmacs=4.233,
)
def se_resnext50_32x4d(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return _resnet(
        Bottleneck,
        (3, 4, 6, 3),
        num_classes,
        in_channels,
        groups=32,
        width_per_group=4,
        attn_layer=SqueezeExcite,
    )
