"""TRADES-KL attack (Zhang et al.): start x + 0.001·N(0, 1), ascend KL(p(x) ‖ p(x*)) in the ε-ball."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainables.attacks import ATTACKS
from trainables.attacks.base import Attack, clamp_pixels, input_grad, project_linf


@ATTACKS.register("trades_kl")
class TradesKL(Attack):
    name = "trades_kl"

    def __init__(self, eps: float, alpha: float, steps: int = 10, **kw) -> None:
        super().__init__(eps, alpha, steps=steps, **kw)

    @staticmethod
    def default_alpha(eps: float) -> float:
        return eps / 4

    def perturb(self, model, x, y):
        with torch.no_grad(), self.autocast():
            p_nat = F.softmax(model(x).float(), dim=1)
        delta = 0.001 * torch.randn_like(x)  # not clipped to [0, 1] before the first step, as in TRADES
        start = x + delta
        for _ in range(self.steps):
            delta.requires_grad_(True)
            with self.autocast():
                logp_adv = F.log_softmax(model(x + delta).float(), dim=1)
            kl = F.kl_div(logp_adv, p_nat, reduction="sum")
            g = input_grad(kl, delta)
            delta = clamp_pixels(x, project_linf(delta.detach() + self.alpha * g.sign(), self.eps))
        return x + delta.detach(), start
