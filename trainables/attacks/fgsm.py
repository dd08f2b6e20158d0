"""FGSM (Goodfellow et al.): one signed step from x; α = ε by default."""
from __future__ import annotations

import torch

from trainables.attacks import ATTACKS
from trainables.attacks.base import Attack, clamp_pixels, project_linf


@ATTACKS.register("fgsm")
class FGSM(Attack):
    name = "fgsm"

    def perturb(self, model, x, y):
        delta = self._signed_step(model, x, y, torch.zeros_like(x))
        delta = clamp_pixels(x, project_linf(delta, self.eps))
        return x + delta, x
