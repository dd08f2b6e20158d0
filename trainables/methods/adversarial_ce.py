"""Cross-entropy on the adversarial point: FGSM-AT, RS-FGSM, N-FGSM and PGD-AT (Madry)."""
from __future__ import annotations

import torch.nn.functional as F

from trainables.methods import METHODS
from trainables.methods.base import Losses, Method


class AdversarialCE(Method):
    """L = CE(f(x*), y) with x* from the method's training attack."""

    def losses(self, model, x, y, adv):
        logits_adv = self.forward(model, adv.x_adv)
        return Losses(F.cross_entropy(logits_adv, y), logits_adv)


@METHODS.register("fgsm")
class FGSMAT(AdversarialCE):
    attack_name = "fgsm"


@METHODS.register("rs_fgsm")
class RSFGSMAT(AdversarialCE):
    attack_name = "rs_fgsm"


@METHODS.register("n_fgsm")
class NFGSMAT(AdversarialCE):
    attack_name = "n_fgsm"


@METHODS.register("pgd")
class PGDAT(AdversarialCE):
    attack_name = "pgd"
