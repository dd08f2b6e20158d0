"""A small CNN that trains at CPU speed: the quickstart's, the tests' and the CPU benchmarks' model.

fast_adversarial's MNIST network (two 4x4 stride-2 convolutions, a 100-unit hidden layer) with
BatchNorm after each convolution, so the BN-mode effects on ΔE seen in the big nets are present.
``width`` scales the channels (default 16: 166,502 parameters at 28x28x1, 215,014 at 32x32x3).
On this project's 2-core CPU a forward+backward of 128 MNIST images takes ~20 ms (bench/README.md).
"""
from __future__ import annotations

from torch import nn

from trainables.models import MODELS


@MODELS.register("small_cnn")
def small_cnn(num_classes: int = 10, in_channels: int = 3, width: int = 16, image_size: int = 32) -> nn.Module:
    w = width
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
        nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(2 * w * (image_size // 4) ** 2, 100), nn.ReLU(inplace=True),
        nn.Linear(100, num_classes),
    )
