"""The notes' AlexNet (Dive into Deep Learning, "Deep Convolutional Neural Networks"), as a user writes it.

One-channel 224×224 inputs (Fashion-MNIST resized), 10 classes, one flat ``nn.Sequential`` of 21 layers.
The file offers the model two ways, both loadable by archinspect:

    archinspect shapes examples/d2l_alexnet.py:net --input 1,1,224,224       # a module instance
    archinspect shapes examples/d2l_alexnet.py:alexnet --input 1,1,224,224   # a factory function

46,764,746 parameters; 938,146,176 MACs per 1×224×224 image (the same as zoo entry ``d2l-alexnet``).
"""

from torch import nn


def alexnet() -> nn.Module:
    """A freshly built AlexNet (the notes' ``net``)."""
    return nn.Sequential(
        # A larger 11x11 window captures objects; stride 4 cuts the output height and width a lot.
        nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        # Smaller window, padding 2 keeps the size, more output channels.
        nn.Conv2d(96, 256, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        # Three successive 3x3 convolutions.
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        # Wide fully connected layers, with dropout against overfitting.
        nn.Linear(6400, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=0.5),
        # Fashion-MNIST has 10 classes.
        nn.Linear(4096, 10),
    )


net = alexnet()
