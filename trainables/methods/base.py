"""A method turns a batch into a loss: attack → method loss → optional DER term.

Energies for DER and for the trace reuse logits the step computes. Only when the trace needs
E(x) and the step has no clean logits does the base run one no-grad clean forward, in the same
(train) mode as the adversarial forward, with BatchNorm running statistics left untouched.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager, Optional

import torch
from torch import Tensor, nn

from trainables.attacks import AttackResult, build_attack
from trainables.config import DERConfig, MethodConfig
from trainables.der import DER


@dataclass
class StepOutput:
    loss: Tensor  # total loss, differentiable
    method_loss: Tensor  # detached
    der_loss: Tensor  # detached (0 when DER is off)
    logits_adv: Tensor  # detached, train-mode logits at x*
    logits_nat: Optional[Tensor]  # detached, train-mode logits at clean x (None if not wanted)
    x_adv: Tensor


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module):
    """Forward in train mode without changing any BatchNorm running statistic."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns]
    try:
        yield
    finally:
        for m, (mean, var, n) in zip(bns, saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(n)


@dataclass
class Losses:
    """What a method's ``loss`` returns: the loss and the (non-detached) logits it computed."""

    loss: Tensor
    logits_adv: Tensor
    logits_nat: Optional[Tensor] = None  # differentiable clean logits (DER may reuse them)
    trace_nat: Optional[Tensor] = None  # detached clean logits, good for the trace only


class Method:
    """Base: subclasses set ``attack_name`` and implement ``losses``."""

    attack_name = "pgd"
    computes_clean_logits = False  # True when ``losses`` returns clean logits (TRADES, GradAlign)

    def __init__(self, cfg: MethodConfig, der_cfg: DERConfig,
                 autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> None:
        self.cfg, self.der, self.autocast = cfg, DER(der_cfg), autocast
        self.attack = build_attack(
            cfg.attack or self.attack_name, cfg.epsilon, cfg.alpha, steps=cfg.steps, norm=cfg.norm,
            noise_k=cfg.noise_k, bn=cfg.attack_bn_mode, autocast=autocast,
        )

    @property
    def _has_clean_logits(self) -> bool:
        return self.computes_clean_logits or (self.der.enabled and self.der.cfg.natural_at == "clean")

    def forward(self, model: nn.Module, x: Tensor) -> Tensor:
        with self.autocast():
            return model(x).float()

    def losses(self, model: nn.Module, x: Tensor, y: Tensor, adv: AttackResult) -> Losses:
        raise NotImplementedError

    def step(self, model: nn.Module, x: Tensor, y: Tensor, want_nat: bool = False) -> StepOutput:
        """One training step's loss (model in train mode); no backward here."""
        trace_nat = None
        if want_nat and not self._has_clean_logits:
            # before anything enters the autograd graph: restoring BN buffers in place after the
            # training forward would invalidate its saved tensors
            with torch.no_grad(), frozen_bn_stats(model):
                trace_nat = self.forward(model, x)
        adv = self.attack(model, x, y)
        out = self.losses(model, x, y, adv)
        der_loss = torch.zeros((), device=x.device)
        if out.logits_nat is not None or out.trace_nat is not None:
            trace_nat = out.logits_nat if out.logits_nat is not None else out.trace_nat
        if self.der.enabled:
            if self.der.cfg.natural_at == "clean":
                der_nat = out.logits_nat if out.logits_nat is not None else self.forward(model, x)
                trace_nat = der_nat
            else:
                der_nat = self.forward(model, adv.x_start)
            der_loss = self.der(der_nat, out.logits_adv, y)
        return StepOutput(
            loss=out.loss + der_loss,
            method_loss=out.loss.detach(),
            der_loss=der_loss.detach(),
            logits_adv=out.logits_adv.detach(),
            logits_nat=None if trace_nat is None else trace_nat.detach(),
            x_adv=adv.x_adv,
        )
