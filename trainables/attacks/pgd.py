"""PGD-k (Madry et al.) with random start and restarts, L∞ (signed steps) or L2 (normalised steps).

As an evaluator (``early_stop=True``, what every validation, probe and test attack uses) a sample
stops moving as soon as an iterate misclassifies it, as in fast_adversarial's and
robust_overfitting's ``attack_pgd``: robust accuracy then counts a sample as broken if *any*
iterate of any restart broke it. As a training attack (PGD-AT) every sample takes all k steps,
as in robust_overfitting's training loop. Across restarts each sample keeps the perturbation
that misclassifies it, else the one with the highest loss, so more restarts never find fewer errors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trainables.attacks import ATTACKS
from trainables.attacks.base import (Attack, batch_norms, clamp_pixels, input_grad, normalize_l2,
                                     project_l2, project_linf)


@ATTACKS.register("pgd")
class PGD(Attack):
    name = "pgd"

    def __init__(self, eps: float, alpha: float, steps: int = 10, restarts: int = 1,
                 norm: str = "linf", random_start: bool = True, early_stop: bool = False, **kw) -> None:
        super().__init__(eps, alpha, steps=steps, restarts=restarts, **kw)
        if norm not in ("linf", "l2"):
            raise ValueError(f"pgd: norm must be 'linf' or 'l2', got {norm!r}")
        self.norm, self.random_start, self.early_stop = norm, random_start, early_stop

    @staticmethod
    def default_alpha(eps: float) -> float:
        return eps / 4

    def _init(self, x):
        if not self.random_start:
            return torch.zeros_like(x)
        if self.norm == "linf":
            return clamp_pixels(x, torch.empty_like(x).uniform_(-self.eps, self.eps))
        d = torch.randn_like(x)
        r = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device)
        return clamp_pixels(x, d / batch_norms(d) * r * self.eps)

    def _step(self, delta, g):
        if self.norm == "linf":
            return project_linf(delta + self.alpha * g.sign(), self.eps)
        return project_l2(delta + self.alpha * normalize_l2(g), self.eps)

    def _run(self, model, x, y):
        delta = self._init(x)
        start = x + delta
        for _ in range(self.steps):
            delta.requires_grad_(True)
            with self.autocast():
                logits = model(x + delta).float()
            g = input_grad(F.cross_entropy(logits, y, reduction="sum"), delta)
            new = clamp_pixels(x, self._step(delta.detach(), g))
            if self.early_stop:  # freeze the samples this iterate already misclassifies
                still = (logits.detach().argmax(1) == y).view(-1, *([1] * (x.dim() - 1)))
                new = torch.where(still, new, delta.detach())
            delta = new
        return delta.detach(), start

    def perturb(self, model, x, y):
        best, start = self._run(model, x, y)
        if self.restarts == 1:
            return x + best, start
        best_score = self._score(model, x + best, y)
        for _ in range(self.restarts - 1):
            delta, _ = self._run(model, x, y)
            score = self._score(model, x + delta, y)
            better = (score > best_score).view(-1, *([1] * (x.dim() - 1)))
            best = torch.where(better, delta, best)
            best_score = torch.maximum(score, best_score)
        return x + best, start

    @torch.no_grad()
    def _score(self, model, x_adv, y):
        with self.autocast():
            logits = model(x_adv).float()
        wrong = (logits.argmax(1) != y).float()
        return F.cross_entropy(logits, y, reduction="none") + 1e6 * wrong
