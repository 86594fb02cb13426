"""The Dive into Deep Learning teaching networks, as the book's PyTorch code builds them.

Zhang, Lipton, Li and Smola, *Dive into Deep Learning*, chapters "Convolutional Neural Networks" and
"Modern Convolutional Neural Networks": LeNet with batch norm, AlexNet, VGG-11, NiN, GoogLeNet,
ResNet-18 and DenseNet, sized for one-channel Fashion-MNIST images (28×28, resized to 224×224 or
96×96) and 10 classes. Each model is one top-level ``nn.Sequential`` whose children are those the
book's shape tables list, so a depth-1 shape table reads like the book's. Blocks: ``d2l_blocks``.
"""

from __future__ import annotations

from torch import nn

from archinspect.models.zoo._registry import register_model
from archinspect.models.zoo.d2l_blocks import (
    DenseBlock,
    Inception,
    nin_block,
    resnet_block,
    transition_block,
    vgg_block,
)

_SOURCE = "Zhang et al., Dive into Deep Learning"
_COMMON = {"family": "D2L", "source": _SOURCE, "num_classes": 10}

VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


@register_model("d2l-lenet-bn", input=(1, 1, 28, 28), params=44_878, macs=281_640, **_COMMON)
def d2l_lenet_bn(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """LeNet-5 with batch norm after every conv and hidden linear layer, sigmoid activations."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5),
        nn.BatchNorm2d(6),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, 5),
        nn.BatchNorm2d(16),
        nn.Sigmoid(),
        nn.AvgPool2d(2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120),
        nn.BatchNorm1d(120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.BatchNorm1d(84),
        nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


@register_model("d2l-alexnet", input=(1, 1, 224, 224), params=46_764_746, macs=938_146_176, **_COMMON)
def d2l_alexnet(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """AlexNet as one flat Sequential of 21 layers (96-256-384-384-256 convs, 4096-wide classifier)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(96, 256, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    )


@register_model("d2l-vgg11", input=(1, 1, 224, 224), params=128_806_154, macs=7_547_232_256, **_COMMON)
def d2l_vgg11(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Five VGG blocks (one Sequential each), then a 4096-4096 classifier with dropout."""
    blocks = []
    for num_convs, out_channels in VGG11_ARCH:
        blocks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *blocks,
        nn.Flatten(),
        nn.Linear(in_channels * 7 * 7, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    )


@register_model("d2l-nin", input=(1, 1, 224, 224), params=1_992_166, macs=762_297_352, **_COMMON)
def d2l_nin(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Network in Network: four NiN blocks, the last one emitting one map per class, then global pooling."""
    return nn.Sequential(
        nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(96, 256, kernel_size=5, stride=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(256, 384, kernel_size=3, stride=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(0.5),
        nin_block(384, num_classes, kernel_size=3, stride=1, padding=1),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
    )


@register_model("d2l-googlenet", input=(1, 1, 96, 96), params=5_977_530, macs=293_463_040, **_COMMON)
def d2l_googlenet(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """GoogLeNet: stem stages ``b1``, ``b2``, inception stages ``b3``–``b5``, then Linear 1024→10."""
    b1 = nn.Sequential(
        nn.Conv2d(in_channels, 64, 7, stride=2, padding=3),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
    )
    b2 = nn.Sequential(
        nn.Conv2d(64, 64, 1),
        nn.ReLU(),
        nn.Conv2d(64, 192, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
    )
    b3 = nn.Sequential(
        Inception(192, 64, (96, 128), (16, 32), 32),
        Inception(256, 128, (128, 192), (32, 96), 64),
        nn.MaxPool2d(3, stride=2, padding=1),
    )
    b4 = nn.Sequential(
        Inception(480, 192, (96, 208), (16, 48), 64),
        Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64),
        Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128),
        # The notes close b4 with a 2×2 pool (padding 1): 6×6 → 4×4, where the book's 3×3 one gives 3×3.
        # docs/reference/zoo.md's 293,463,040 MACs are the notes' figure (the book's pool would give 276,066,304).
        nn.MaxPool2d(2, stride=2, padding=1),
    )
    b5 = nn.Sequential(
        Inception(832, 256, (160, 320), (32, 128), 128),
        Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
    )
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, num_classes))


def _resnet_stem(in_channels: int) -> nn.Sequential:
    """7×7/2 conv (64), BN, ReLU, 3×3/2 max pool: a quarter of the input's side."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 7, stride=2, padding=3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
    )


@register_model("d2l-resnet18", input=(1, 1, 224, 224), params=11_178_378, macs=1_734_890_496, **_COMMON)
def d2l_resnet18(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Stem ``b1``, four stages ``b2``–``b5`` of two residual blocks (64-128-256-512), pool, Linear."""
    return nn.Sequential(
        _resnet_stem(in_channels),
        nn.Sequential(*resnet_block(64, 64, 2, first_block=True)),
        nn.Sequential(*resnet_block(64, 128, 2)),
        nn.Sequential(*resnet_block(128, 256, 2)),
        nn.Sequential(*resnet_block(256, 512, 2)),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(512, num_classes),
    )


@register_model("d2l-densenet", input=(1, 1, 96, 96), params=758_226, macs=129_077_168, **_COMMON)
def d2l_densenet(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """ResNet's stem, four dense blocks of 4 conv blocks (growth 32) with halving transitions between."""
    channels, growth_rate = 64, 32
    layers: list[nn.Module] = [_resnet_stem(in_channels)]
    num_convs_in_dense_blocks = (4, 4, 4, 4)
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        layers.append(DenseBlock(num_convs, channels, growth_rate))
        channels += num_convs * growth_rate
        if i != len(num_convs_in_dense_blocks) - 1:
            layers.append(transition_block(channels, channels // 2))
            channels //= 2
    return nn.Sequential(
        *layers,
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    )
