"""Model registry. Every model takes pixels in [0, 1]; normalisation lives inside the model."""
from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from trainables.schema.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

from trainables.models import preact_resnet, small_cnn, wide_resnet  # noqa: E402,F401  (fill MODELS)
from trainables.models.normalize import Normalized  # noqa: E402


def build_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    width: int | None = None,
    image_size: int = 32,
    batchnorm: bool | None = None,
) -> nn.Module:
    """Build a registered network and wrap it so that it normalises its [0, 1] input itself
    (``mean``/``std`` None: no standardisation, raw pixels)."""
    kwargs = {"num_classes": num_classes, "in_channels": in_channels, "image_size": image_size}
    for k, v in (("width", width), ("batchnorm", batchnorm)):
        if v is not None:
            kwargs[k] = v
    net = MODELS.get(name)(**kwargs)
    return Normalized(net, mean or [0.0] * in_channels, std or [1.0] * in_channels)


def build_from_config(mc, num_classes: int, in_channels: int, mean: Sequence[float] | None,
                      std: Sequence[float] | None, image_size: int) -> nn.Module:
    """The network of a ``ModelConfig`` for a dataset's facts (``mc.normalize`` false: raw pixels)."""
    if not mc.normalize:
        mean = std = None
    return build_model(mc.name, num_classes, in_channels, mean, std, mc.width, image_size, mc.batchnorm)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "build_model", "count_parameters", "build_from_config", "Normalized"]
