"""Shared machinery of the attacks: BN-mode handling, input gradients, ball projections."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BNMode = Literal["eval", "train"]


@dataclass
class AttackResult:
    """x_adv and the random start it grew from (x itself for zero-init attacks); both detached."""

    x_adv: Tensor
    x_start: Tensor
    bn_mode: str


@contextlib.contextmanager
def bn_mode(model: nn.Module, mode: BNMode):
    """Run the block with the model in ``mode`` ("eval" or "train"), then restore its mode."""
    was_training = model.training
    model.train(mode == "train")
    try:
        yield
    finally:
        model.train(was_training)


def input_grad(loss: Tensor, x: Tensor) -> Tensor:
    """∇ₓ loss without touching parameter gradients."""
    (g,) = torch.autograd.grad(loss, x)
    return g


def clamp_pixels(x: Tensor, delta: Tensor) -> Tensor:
    """Clip δ so that x + δ stays in [0, 1]."""
    return torch.clamp(delta, -x, 1 - x)


def project_linf(delta: Tensor, eps: float) -> Tensor:
    return torch.clamp(delta, -eps, eps)


def batch_norms(v: Tensor) -> Tensor:
    """Per-example L2 norms of a batch, floored at 1e-12, shaped to broadcast against it."""
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project_l2(delta: Tensor, eps: float) -> Tensor:
    return delta * torch.clamp(eps / batch_norms(delta), max=1.0)


def normalize_l2(g: Tensor) -> Tensor:
    return g / batch_norms(g)


class Attack:
    """Base class: subclasses implement ``perturb``; ``__call__`` sets the BN mode around it."""

    name = "attack"
    norm = "linf"

    def __init__(
        self,
        eps: float,
        alpha: float,
        steps: int = 1,
        restarts: int = 1,
        bn: BNMode = "eval",
        autocast: Callable[[], ContextManager] = contextlib.nullcontext,
        **_: object,
    ) -> None:
        if eps <= 0 or alpha <= 0:
            raise ValueError(f"{self.name}: epsilon and alpha must be positive (got {eps}, {alpha})")
        self.eps, self.alpha, self.steps, self.restarts = eps, alpha, steps, restarts
        self.bn, self.autocast = bn, autocast

    @staticmethod
    def default_alpha(eps: float) -> float:
        return eps

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """The summed loss the attack ascends (cross-entropy unless overridden)."""
        with self.autocast():
            logits = model(x)
        return F.cross_entropy(logits.float(), y, reduction="sum")

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> AttackResult:
        with bn_mode(model, self.bn):
            x_adv, x_start = self.perturb(model, x.detach(), y)
        return AttackResult(x_adv.detach(), x_start.detach(), self.bn)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _signed_step(self, model: nn.Module, x: Tensor, y: Tensor, delta: Tensor) -> Tensor:
        """One ascent step δ + α·sign(∇) from δ (no projection)."""
        delta = delta.detach().requires_grad_(True)
        g = input_grad(self.loss(model, x + delta, y), delta)
        return delta.detach() + self.alpha * g.sign()
