"""N-FGSM (de Jorge et al.): noise U(−kε, kε), one step α = ε, no projection to the ε-ball.

The perturbation is bounded by kε + α (its own bound), and x + δ is clipped to [0, 1].
"""
from __future__ import annotations

import torch

from trainables.attacks import ATTACKS
from trainables.attacks.base import Attack, clamp_pixels


@ATTACKS.register("n_fgsm")
class NFGSM(Attack):
    name = "n_fgsm"

    def __init__(self, eps: float, alpha: float, noise_k: float = 2.0, **kw) -> None:
        super().__init__(eps, alpha, **kw)
        self.noise_k = noise_k

    @property
    def bound(self) -> float:
        return self.noise_k * self.eps + self.alpha

    def perturb(self, model, x, y):
        r = self.noise_k * self.eps
        delta0 = clamp_pixels(x, torch.empty_like(x).uniform_(-r, r))
        delta = clamp_pixels(x, self._signed_step(model, x, y, delta0))
        return x + delta, x + delta0
