"""A method turns a batch into a loss: attack → method loss → optional DER term.

``Method.step`` reads top to bottom as one training step. Clean logits f(x) come from one place,
``Method.clean_logits``: the method's own when its loss computed them (TRADES, GradAlign), else
one extra forward that leaves every BatchNorm running statistic exactly as it was, so neither
DER nor the energy trace changes what the model sees in eval mode (issue 13: a train-mode clean
forward for DER had mixed clean statistics into the running ones even at λ → 0).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager, Optional

import torch
from torch import Tensor, nn

from trainables.attacks import AttackResult, build_attack
from trainables.schema.config import DERConfig, MethodConfig
from trainables.energy.der import DER


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
    """Forward passes inside leave every BatchNorm running statistic (and batch count) as it was.

    The running buffers are swapped for copies for the duration and the original tensors put back
    afterwards (never copied into), so tensors autograd saved inside stay valid and gradients flow
    through these forwards as through any other.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    names = ("running_mean", "running_var", "num_batches_tracked")
    saved = [{k: getattr(m, k) for k in names} for m in bns]
    try:
        for m, bufs in zip(bns, saved):
            for k, v in bufs.items():
                setattr(m, k, v.clone())
        yield
    finally:
        for m, bufs in zip(bns, saved):
            for k, v in bufs.items():
                setattr(m, k, v)


@dataclass
class Losses:
    """What a method's ``losses`` returns: the loss and the (non-detached) logits it computed."""

    loss: Tensor
    logits_adv: Tensor
    logits_nat: Optional[Tensor] = None  # differentiable clean logits (DER may reuse them)
    trace_nat: Optional[Tensor] = None  # detached clean logits, good for the trace only


class Method:
    """Base: subclasses set ``attack_name`` (and ``attack_bn``) and implement ``losses``."""

    attack_name = "pgd"
    attack_bn = "train"  # BatchNorm mode of the training attack in the method's reference code (method.md §3)

    def __init__(self, cfg: MethodConfig, der_cfg: DERConfig,
                 autocast: Callable[[], ContextManager] = contextlib.nullcontext) -> None:
        self.cfg, self.der, self.autocast = cfg, DER(der_cfg), autocast
        self.attack = build_attack(
            cfg.attack or self.attack_name, cfg.epsilon, cfg.alpha, steps=cfg.steps, norm=cfg.norm,
            noise_k=cfg.noise_k, clip_start=cfg.clip_start, bn=cfg.attack_bn_mode or self.attack_bn, autocast=autocast,
        )

    def forward(self, model: nn.Module, x: Tensor) -> Tensor:
        with self.autocast():
            return model(x).float()

    def losses(self, model: nn.Module, x: Tensor, y: Tensor, adv: AttackResult) -> Losses:
        raise NotImplementedError

    def clean_logits(self, model: nn.Module, x: Tensor, out: Losses, grad: bool) -> Tensor:
        """f(x) in train mode: the method's own if its loss computed them, else one forward with
        BatchNorm statistics left untouched (differentiable when ``grad``)."""
        if out.logits_nat is not None:
            return out.logits_nat
        if not grad and out.trace_nat is not None:
            return out.trace_nat
        with frozen_bn_stats(model), (contextlib.nullcontext() if grad else torch.no_grad()):
            return self.forward(model, x)

    def step(self, model: nn.Module, x: Tensor, y: Tensor, want_nat: bool = False) -> StepOutput:
        """One training step's loss (model in train mode); no backward here."""
        adv = self.attack(model, x, y)  # 1. the training attack: x* (detached)
        out = self.losses(model, x, y, adv)  # 2. the method's loss on (x, x*)
        der_loss, nat = torch.zeros((), device=x.device), out.logits_nat
        if self.der.enabled:  # 3. DER on E(x_nat) − E(x*), x_nat the clean x or the attack's random start
            if self.der.cfg.natural_at == "clean":
                nat = der_nat = self.clean_logits(model, x, out, grad=True)
            else:
                with frozen_bn_stats(model):
                    der_nat = self.forward(model, adv.x_start)
            der_loss = self.der(der_nat, out.logits_adv, y)
        if nat is None and (want_nat or out.trace_nat is not None):  # 4. clean logits for the trace
            nat = self.clean_logits(model, x, out, grad=False)
        return StepOutput(
            loss=out.loss + der_loss,
            method_loss=out.loss.detach(),
            der_loss=der_loss.detach(),
            logits_adv=out.logits_adv.detach(),
            logits_nat=None if nat is None else nat.detach(),
            x_adv=adv.x_adv,
        )
