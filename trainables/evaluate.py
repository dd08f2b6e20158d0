"""Robust evaluation: clean and PGD accuracy with ΔE, and AutoAttack from torchattacks (method.md §7).

All evaluation runs the model in eval mode. AutoAttack is never home-made: it is torchattacks'
implementation of the standard version (APGD-CE, APGD-T, FAB-T, Square).
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterable, Optional

import torch
from torch import Tensor, nn

from trainables.attacks import Attack
from trainables.trace import EnergyTrace


@torch.no_grad()
def _logits(model: nn.Module, x: Tensor, autocast: Callable[[], ContextManager]) -> Tensor:
    with autocast():
        return model(x).float()


def robust_accuracy(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    attack: Optional[Attack] = None,
    autocast: Callable[[], ContextManager] = contextlib.nullcontext,
    trace: Optional[EnergyTrace] = None,
) -> dict[str, float]:
    """Clean accuracy and, with an attack, adversarial accuracy; ΔE (eval mode) goes to ``trace``."""
    was_training = model.training
    model.eval()
    n = 0
    clean = torch.zeros((), dtype=torch.long)
    adv = torch.zeros((), dtype=torch.long)
    try:
        for x, y in batches:
            logits = _logits(model, x, autocast)
            clean = clean.to(x.device) + (logits.argmax(1) == y).sum()
            if attack is not None:
                x_adv = attack(model, x, y).x_adv
                logits_adv = _logits(model, x_adv, autocast)
                adv = adv.to(x.device) + (logits_adv.argmax(1) == y).sum()
                if trace is not None:
                    trace.update(logits, logits_adv, y)
            n += y.numel()
    finally:
        model.train(was_training)
    out = {"clean_acc": clean.item() / max(n, 1), "n": float(n)}
    if attack is not None:
        out["adv_acc"] = adv.item() / max(n, 1)
    return out


def autoattack_accuracy(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, norm: str = "Linf",
    num_classes: int = 10, batch_size: int = 256, seed: int = 0,
) -> float:
    """Robust accuracy under AutoAttack (standard) from torchattacks, on the given images."""
    import torchattacks

    was_training = model.training
    model.eval()
    try:
        aa = torchattacks.AutoAttack(model, norm=norm, eps=eps, version="standard", n_classes=num_classes, seed=seed)
        correct = 0
        for i in range(0, len(y), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            x_adv = aa(xb, yb)
            correct += (_logits(model, x_adv, contextlib.nullcontext).argmax(1) == yb).sum().item()
    finally:
        model.train(was_training)
    return correct / max(len(y), 1)
