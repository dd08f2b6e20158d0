"""RS-FGSM (Wong et al., fast_adversarial): uniform random start in the ε-ball, one step, α = 1.25ε."""
from __future__ import annotations

import torch

from trainables.attacks import ATTACKS
from trainables.attacks.base import Attack, clamp_pixels, project_linf


@ATTACKS.register("rs_fgsm")
class RSFGSM(Attack):
    name = "rs_fgsm"

    @staticmethod
    def default_alpha(eps: float) -> float:
        return 1.25 * eps

    def __init__(self, eps: float, alpha: float, clip_start: bool = True, **kw) -> None:
        super().__init__(eps, alpha, **kw)
        self.clip_start = clip_start

    def perturb(self, model, x, y):
        delta0 = torch.empty_like(x).uniform_(-self.eps, self.eps)
        if self.clip_start:  # fast_adversarial's CIFAR script clips the start; its MNIST script does not
            delta0 = clamp_pixels(x, delta0)
        delta = self._signed_step(model, x, y, delta0)
        delta = clamp_pixels(x, project_linf(delta, self.eps))
        return x + delta, x + delta0
