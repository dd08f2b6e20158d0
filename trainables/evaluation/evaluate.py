"""Robust evaluation: clean and adversarial accuracy with ΔE (method.md §7).

All evaluation runs the model in eval mode; the attack decides how strong the reading is (PGD as
an evaluator freezes a sample once an iterate breaks it, ``trainables.attacks.pgd``). AutoAttack
lives in ``trainables.attacks.autoattack``.
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterable, Optional

import torch
from torch import Tensor, nn

from trainables.attacks import Attack
from trainables.energy.trace import EnergyTrace


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
    keep_first: int = 0,
) -> dict:
    """Clean accuracy and, with an attack, adversarial accuracy; ΔE (eval mode) goes to ``trace``.

    ``keep_first`` > 0 also returns, under ``"robust_mask"``, whether each of the first ``keep_first``
    images withstood the attack (a bool tensor on the device), for a stronger follow-up on the same images.
    """
    was_training = model.training
    model.eval()
    n = 0
    clean = torch.zeros((), dtype=torch.long)
    adv = torch.zeros((), dtype=torch.long)
    kept: list[Tensor] = []
    try:
        for x, y in batches:
            logits = _logits(model, x, autocast)
            clean = clean.to(x.device) + (logits.argmax(1) == y).sum()
            if attack is not None:
                x_adv = attack(model, x, y).x_adv
                logits_adv = _logits(model, x_adv, autocast)
                ok = logits_adv.argmax(1) == y
                adv = adv.to(x.device) + ok.sum()
                if n < keep_first:
                    kept.append(ok[: keep_first - n])
                if trace is not None:
                    trace.update(logits, logits_adv, y)
            n += y.numel()
    finally:
        model.train(was_training)
    out = {"clean_acc": clean.item() / max(n, 1), "n": float(n)}
    if attack is not None:
        out["adv_acc"] = adv.item() / max(n, 1)
        if keep_first:
            out["robust_mask"] = torch.cat(kept) if kept else torch.zeros(0, dtype=torch.bool)
    return out
