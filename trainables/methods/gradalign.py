"""GradAlign (Andriushchenko & Flammarion): FGSM-AT + λ·(1 − cos(∇ₓℓ(x), ∇ₓℓ(x + η))), η ~ U(−ε, ε).

As in the official code, the clean-input gradient is detached and the gradient at the random
point is differentiated through (double backprop).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainables.methods import METHODS
from trainables.methods.base import Losses, Method, frozen_bn_stats


@METHODS.register("gradalign")
class GradAlign(Method):
    attack_name = "fgsm"  # zero init, step ε (the published commands' --attack_init=zero)

    def _input_grad(self, model, x, y, create_graph: bool):
        x = x.detach().requires_grad_(True)
        logits = self.forward(model, x)
        (g,) = torch.autograd.grad(F.cross_entropy(logits, y), x, create_graph=create_graph)
        return g, logits

    def losses(self, model, x, y, adv):
        logits_adv = self.forward(model, adv.x_adv)
        loss = F.cross_entropy(logits_adv, y)
        if self.cfg.gradalign_lambda > 0:
            # ∇ₓℓ(x): the reference reuses its FGSM gradient; recomputed here without touching BN statistics
            with frozen_bn_stats(model):
                g1, logits_nat = self._input_grad(model, x, y, create_graph=False)
            eta = torch.empty_like(x).uniform_(-self.attack.eps, self.attack.eps)
            g2, _ = self._input_grad(model, x + eta, y, create_graph=True)  # x + η not clipped, as in the reference
            loss = loss + self.cfg.gradalign_lambda * (1.0 - _mean_cosine(g1.detach(), g2))
            return Losses(loss, logits_adv, trace_nat=logits_nat.detach())
        return Losses(loss, logits_adv)


def _mean_cosine(g1, g2):
    """Mean cosine over the samples where both gradients are non-zero (as the reference's grads_nnz_idx)."""
    a, b = g1.flatten(1), g2.flatten(1)
    keep = (a.norm(dim=1) != 0) & (b.norm(dim=1) != 0)
    a, b = a[keep], b[keep]
    return ((a / a.norm(dim=1, keepdim=True)) * (b / b.norm(dim=1, keepdim=True))).sum(1).mean()
