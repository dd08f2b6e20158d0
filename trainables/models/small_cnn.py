"""A small CNN that trains at CPU speed: the quickstart's, the tests' and the CPU benchmarks' model.

fast_adversarial's MNIST network (two 4x4 stride-2 convolutions, a 100-unit hidden layer), by default
with BatchNorm after each convolution, so the BN-mode effects on ΔE seen in the big nets are present.
``batchnorm=False`` at width 16 on 28x28x1 is fast_adversarial's ``mnist_net`` exactly (166,406
parameters; with BatchNorm 166,502; at 32x32x3 with BatchNorm 215,014). ``width`` scales the channels.
On this project's 2-core CPU a forward+backward of 128 MNIST images takes ~20 ms (bench/README.md).
"""
from __future__ import annotations

from torch import nn

from trainables.models import MODELS


@MODELS.register("small_cnn")
def small_cnn(num_classes: int = 10, in_channels: int = 3, width: int = 16, image_size: int = 32,
              batchnorm: bool = True) -> nn.Module:
    w = width

    def bn(c):
        return [nn.BatchNorm2d(c)] if batchnorm else []

    return nn.Sequential(
        nn.Conv2d(in_channels, w, 4, 2, 1), *bn(w), nn.ReLU(inplace=True),
        nn.Conv2d(w, 2 * w, 4, 2, 1), *bn(2 * w), nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(2 * w * (image_size // 4) ** 2, 100), nn.ReLU(inplace=True),
        nn.Linear(100, num_classes),
    )
