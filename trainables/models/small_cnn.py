"""A small CNN that trains at CPU speed: the quickstart's and the tests' model.

Four 3x3 conv layers with BatchNorm (so BN-mode effects on ΔE are present, as in the big nets)
and a linear head; ``width`` scales the channels (default 32: 131,754 parameters for 10 classes).
"""
from __future__ import annotations

from torch import nn

from trainables.models import MODELS


def _conv_bn(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@MODELS.register("small_cnn")
def small_cnn(num_classes: int = 10, in_channels: int = 3, width: int = 32) -> nn.Module:
    w = width
    return nn.Sequential(
        *_conv_bn(in_channels, w, 1),
        *_conv_bn(w, 2 * w, 2),
        *_conv_bn(2 * w, 2 * w, 1),
        *_conv_bn(2 * w, 4 * w, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * w, num_classes),
    )
