"""AlexNet, torchvision's single-GPU variant.

Krizhevsky et al., "ImageNet Classification with Deep Convolutional Neural Networks" (NeurIPS 2012),
with the channel widths of Krizhevsky, "One weird trick for parallelizing convolutional neural
networks" (arXiv 1404.5997): 64-192-384-256-256, no local response normalisation, and an adaptive
6x6 average pool before the classifier so that any input of at least 63x63 reaches it.

Parameter names and shapes equal torchvision's ``alexnet``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from archinspect.models.zoo._registry import register_model


class AlexNet(nn.Module):
    """Five convolutions (``features``), adaptive 6x6 average pool, three linears (``classifier``)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


@register_model(
    "alexnet",
    family="AlexNet",
    input=(1, 3, 224, 224),
    source="Krizhevsky et al., NeurIPS 2012; single-GPU widths of arXiv 1404.5997",
    params=61_100_840,
    gmacs=0.714,
)
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout)
