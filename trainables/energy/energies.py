"""Energies of a classifier read as an energy-based model (method.md §1).

All functions take raw logits (temperature 1) and compute in float32 even under bf16 autocast.
E(x) = −logsumexp f(x);  E(x, y) = −f(x)[y];  ΔE = E(x) − E(x*) (natural minus adversarial).
Every ΔE in the platform (DER, the energy traces) is computed by ``delta_energy`` / ``joint_delta_energy``.

>>> import torch
>>> nat, adv = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 0.0]])
>>> round(energy(nat).item(), 4), round(joint_energy(adv, torch.tensor([0])).item(), 4)
(-0.6931, -3.0)
>>> round(delta_energy(nat, adv).item(), 4)   # > 0: the adversarial point has the lower energy
2.3554
>>> ce = torch.nn.functional.cross_entropy(adv, torch.tensor([1]))   # CE(x, y) = E(x, y) − E(x)
>>> bool(torch.isclose(ce, joint_energy(adv, torch.tensor([1])) - energy(adv)))
True
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
