"""A small CNN with two sizing mistakes, for ``archinspect fit``. Input ``1,3,32,32``.

``TwoMistakes`` declares ``conv2`` with 8 input channels although ``conv1`` emits 16, and ``fc`` with
32·7·7 = 1568 input features although it receives 32·8·8 = 2048. Its forward fails at ``conv2``
(a RuntimeError); once that is fixed it would fail again at ``fc``.

    archinspect fit examples/wrong_channels.py:TwoMistakes --input 1,3,32,32
    # conv2 needs in_channels=16, fc needs in_features=2048
"""

import torch
from torch import nn


class TwoMistakes(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 32x32 -> 16x16
        self.conv2 = nn.Conv2d(8, 32, kernel_size=3, padding=1)  # wrong: conv1 emits 16 channels
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 16x16 -> 8x8
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32 * 7 * 7, num_classes)  # wrong: 32 * 8 * 8 = 2048 features arrive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.flatten(x))
