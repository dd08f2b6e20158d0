"""TRADES (Zhang et al.): CE(f(x), y) + β · KL(p(x) ‖ p(x*)), KL summed over classes, averaged over the batch."""
from __future__ import annotations

import torch.nn.functional as F

from trainables.methods import METHODS
from trainables.methods.base import Losses, Method


def trades_loss(logits_nat, logits_adv, y, beta: float):
    """The TRADES objective as in the official code (KLDivLoss(sum) / batch size)."""
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits_nat, dim=1), reduction="sum")
    return F.cross_entropy(logits_nat, y) + beta * kl / y.shape[0]


@METHODS.register("trades")
class TRADES(Method):
    attack_name = "trades_kl"
    attack_bn = "eval"  # TRADES's trades_loss calls model.eval() while it builds x*

    def losses(self, model, x, y, adv):
        logits_nat = self.forward(model, x)
        logits_adv = self.forward(model, adv.x_adv)
        return Losses(trades_loss(logits_nat, logits_adv, y, self.cfg.trades_beta), logits_adv, logits_nat)
