"""Energies of a classifier read as an energy-based model (method.md §1).

All functions take raw logits (temperature 1) and compute in float32 even under bf16 autocast.
E(x) = −logsumexp f(x);  E(x, y) = −f(x)[y];  ΔE = E(x) − E(x*) (natural minus adversarial).
"""
from __future__ import annotations

import torch
from torch import Tensor


def energy(logits: Tensor) -> Tensor:
    """Marginal (free) energy E(x) = −logsumexp_k f(x)[k], one value per sample."""
    return -torch.logsumexp(logits.float(), dim=1)


def joint_energy(logits: Tensor, y: Tensor) -> Tensor:
    """Joint energy E(x, y) = −f(x)[y]."""
    return -logits.float().gather(1, y.view(-1, 1)).squeeze(1)


def delta_energy(logits_nat: Tensor, logits_adv: Tensor) -> Tensor:
    """ΔE = E(x) − E(x*); positive when the adversarial point has lower energy."""
    return energy(logits_nat) - energy(logits_adv)


def joint_delta_energy(logits_nat: Tensor, logits_adv: Tensor, y: Tensor) -> Tensor:
    """ΔE(x, y) = E(x, y) − E(x*, y)."""
    return joint_energy(logits_nat, y) - joint_energy(logits_adv, y)
