"""Optimizer registry (SGD, Adam, AdamW): each with the defaults of the reference recipe it comes from.

A field left ``None`` in ``OptimConfig`` takes the optimizer's default below (``RunConfig.resolved()``
fills them in through ``OptimConfig.with_defaults``, and that is what is logged):

| name | lr | momentum | weight decay | betas | source |
|---|---|---|---|---|---|
| sgd | 0.1 | 0.9 | 5e-4 | – | robust_overfitting ``train_cifar.py`` (also fast_adversarial CIFAR-10, N-FGSM) |
| adam | 5e-3 | – | 0 | (0.9, 0.999) | fast_adversarial ``MNIST/train_mnist.py`` (lr_max 5e-3, no weight decay) |
| adamw | 1e-3 | – | 0.01 | (0.9, 0.999) | torch.optim.AdamW's defaults (Loshchilov & Hutter) |

>>> from trainables.schema.config import OptimConfig
>>> OPTIMIZERS.get("adam").defaults["lr"], OPTIMIZERS.get("sgd").defaults["weight_decay"]
(0.005, 0.0005)
>>> OptimConfig(name="adam").with_defaults().weight_decay
0.0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch

from trainables.schema.registry import Registry

if TYPE_CHECKING:
    from trainables.schema.config import OptimConfig


@dataclass(frozen=True)
class Optimizer:
    factory: Callable[..., torch.optim.Optimizer]
    defaults: dict  # values for the OptimConfig fields left None
    fields: tuple[str, ...]  # the OptimConfig fields this optimizer uses (others must stay None)
    source: str = ""
    extra: dict = field(default_factory=dict)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def _sgd(params, c):
    return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.nesterov)


def _adam(params, c):
    return torch.optim.Adam(params, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)


def _adamw(params, c):
    return torch.optim.AdamW(params, lr=c.lr, betas=tuple(c.betas), weight_decay=c.weight_decay)


OPTIMIZERS.register("sgd")(Optimizer(_sgd, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
                                     ("lr", "momentum", "weight_decay", "nesterov"), "robust_overfitting"))
OPTIMIZERS.register("adam")(Optimizer(_adam, {"lr": 5e-3, "weight_decay": 0.0, "betas": (0.9, 0.999)},
                                      ("lr", "weight_decay", "betas"), "fast_adversarial MNIST"))
OPTIMIZERS.register("adamw")(Optimizer(_adamw, {"lr": 1e-3, "weight_decay": 0.01, "betas": (0.9, 0.999)},
                                       ("lr", "weight_decay", "betas"), "torch.optim.AdamW"))


def build_optimizer(params, cfg: "OptimConfig") -> torch.optim.Optimizer:
    """The configured optimizer over ``params``, defaults filled in."""
    return OPTIMIZERS.get(cfg.name).factory(params, cfg.with_defaults())
