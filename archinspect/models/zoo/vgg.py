"""VGG: very deep networks of 3x3 convolutions.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(ICLR 2015). Configurations A, B, D and E of the paper's Table 1 (VGG-11/13/16/19), each with or
without BatchNorm after every convolution (Ioffe & Szegedy, 2015), an adaptive 7x7 average pool and
the 4096-4096 classifier with dropout.

Parameter names and shapes equal torchvision's ``vgg*`` / ``vgg*_bn``: in ``features`` a BN variant
holds conv, BN, ReLU per layer, so the indices of its convolutions differ from the plain variant's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archinspect.models.zoo._registry import register_model

_SOURCE = "Simonyan & Zisserman, ICLR 2015"

# Output channels of each 3x3 convolution; "M" is a 2x2 max pool with stride 2.
_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}


def make_features(config: tuple[int | str, ...], in_channels: int, batch_norm: bool) -> nn.Sequential:
    """The convolutional trunk for one configuration: 3x3 convs (padding 1), optional BN, ReLU, max pools."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        out = int(item)
        layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` trunk, adaptive 7x7 average pool, ``classifier`` 25088-4096-4096-num_classes."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


_COMMON = {"family": "VGG", "input": (1, 3, 224, 224), "source": _SOURCE}


@register_model("vgg11", params=132_863_336, gmacs=7.609, config="A", **_COMMON)
@register_model("vgg13", params=133_047_848, gmacs=11.308, config="B", **_COMMON)
@register_model("vgg16", params=138_357_544, gmacs=15.47, config="D", **_COMMON)
@register_model("vgg19", params=143_667_240, gmacs=19.632, config="E", **_COMMON)
@register_model("vgg11-bn", params=132_868_840, gmacs=7.609, config="A", batch_norm=True, **_COMMON)
@register_model("vgg13-bn", params=133_053_736, gmacs=11.308, config="B", batch_norm=True, **_COMMON)
@register_model("vgg16-bn", params=138_365_992, gmacs=15.47, config="D", batch_norm=True, **_COMMON)
@register_model("vgg19-bn", params=143_678_248, gmacs=19.632, config="E", batch_norm=True, **_COMMON)
def vgg(
    config: str = "A", batch_norm: bool = False, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5
) -> VGG:
    """A VGG of the paper's configuration ``config`` (A, B, D, E); each zoo entry above gives its own."""
    if config not in _CONFIGS:
        from archinspect.errors import UsageError

        raise UsageError(f"VGG config {config!r} is not one of the paper's: {', '.join(_CONFIGS)}")
    features = make_features(_CONFIGS[config], in_channels, batch_norm)
    return VGG(features, num_classes=num_classes, dropout=dropout)
