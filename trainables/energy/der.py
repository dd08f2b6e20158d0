"""DER, the Delta Energy Regularizer (method.md §5).

    λ · mean_i w_i · ρ(E(x_i) − E(x*_i))  +  λ_joint · mean_i ρ(E(x_i, y_i) − E(x*_i, y_i))

ρ is square (default) or abs; w_i = 1 / softplus(|E(x_i)|) (detached) when energy weights are on.
Gradients flow through both energies; x* itself is a detached input. ΔE comes from ``trainables.energy.energies``.

>>> import torch
>>> from trainables.schema.config import DERConfig
>>> nat, adv = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])   # E(x) = −2.127, E(x*) = −0.693
>>> round(DER(DERConfig(weight=1.0))(nat, adv, torch.tensor([0])).item(), 4)   # (E(x) − E(x*))²
2.0557
>>> DER(DERConfig(weight=0.0)).enabled
False
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from trainables.schema.config import DERConfig
from trainables.energy.energies import delta_energy, energy, joint_delta_energy

RHO = {"square": torch.square, "abs": torch.abs}


class DER:
    """The DER term as a callable on (natural logits, adversarial logits, labels)."""

    def __init__(self, cfg: DERConfig) -> None:
        self.cfg = cfg
        self.rho = RHO[cfg.rho]

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled

    def __call__(self, logits_nat: Tensor, logits_adv: Tensor, y: Tensor) -> Tensor:
        total = logits_adv.new_zeros((), dtype=torch.float32)
        if self.cfg.weight > 0:
            d = delta_energy(logits_nat, logits_adv)
            w = 1.0 / F.softplus(energy(logits_nat).abs()).detach() if self.cfg.energy_weights else 1.0
            total = total + self.cfg.weight * (w * self.rho(d)).mean()
        if self.cfg.joint_weight > 0:
            total = total + self.cfg.joint_weight * self.rho(joint_delta_energy(logits_nat, logits_adv, y)).mean()
        return total
