"""Issue 14: the per-epoch validation reading is checked for gradient masking; issue 25: the best checkpoint is
the epoch with the highest checked reading (``val/robust_acc``, flagged or not), the flag marks the trial
(``best/masked``), and the default search objective (``best/val_robust_acc``) takes the checked reading, never
the PGD reading the masking inflated.

The masked model is built deliberately: Athalye et al.'s "shattered gradients" (ICML 2018), an input
quantised to two levels before the network, so the input gradient is zero everywhere. PGD cannot move from
its random start and reads the model as robust (val/pgd_acc ≈ clean accuracy), while the gradient-free
Square attack of the masking check breaks it. The run: one honest epoch (a model that is not robust at the
evaluation radius), then the same weights behind the quantiser for two more epochs.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from testlib import tiny_run
from trainables.schema import records as R
from trainables.schema.config import RunConfig
from trainables.training.trainer import Trainer
from trainables.evaluation.validation import masking_check


class ShatteredGradients(nn.Module):
    def __init__(self, net: nn.Module, levels: int = 2) -> None:
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, x):
        q = torch.round(x * (self.levels - 1)) / (self.levels - 1)
        return self.net(x * 0 + q.detach())  # connected to x, gradient 0


@pytest.fixture(scope="module")
def masked_run(data_root):
    cfg = RunConfig.model_validate(tiny_run(
        data_root, method__name="fgsm", method__epsilon=8, eval__epsilon=76.5, data__train_subset=2048,
        data__val_size=256, eval__masking={"n": 128}, epochs=3, deterministic=True))
    t = Trainer(cfg)
    records = [t.train_epoch()]
    t.net = ShatteredGradients(t.model)  # from epoch 2 on, training and validation see the masked model
    records += [t.train_epoch(), t.train_epoch()]
    return t, [r.metrics for r in records]


def test_the_validation_attack_alone_is_fooled(masked_run):
    _, (honest, *masked) = masked_run
    for m in masked:
        assert m[R.VAL_PGD_ACC] > honest[R.VAL_PGD_ACC] + 0.5  # PGD reads the masked model as robust


def test_the_masking_check_flags_the_masked_epochs(masked_run):
    _, (honest, *masked) = masked_run
    assert honest[R.VAL_MASKED] == 0.0
    for m in masked:
        assert m[R.VAL_MASKED] == 1.0 and m[R.VAL_MASKING_GAP] > 0.15
        assert m[R.VAL_ROBUST_ACC] == pytest.approx(m[R.VAL_PGD_ACC] - m[R.VAL_MASKING_GAP])


def test_the_binomial_flag_rule_also_flags_the_masked_model(masked_run):
    """``flag: gap_bound`` (the gap's 95 % lower bound above the threshold) on the same masked weights."""
    from trainables.evaluation.validation import Validator

    t, _ = masked_run
    masking = t.cfg.eval.masking.model_copy(update={"flag": "gap_bound"})
    cfg = t.cfg.model_copy(update={"eval": t.cfg.eval.model_copy(update={"masking": masking})})
    m = Validator(cfg, t.data, t.eval_autocast)(t.net)
    assert m[R.VAL_MASKED] == 1.0 and m[R.VAL_MASKING_GAP] > 0.15


def test_a_masked_epoch_is_selected_on_its_checked_reading_and_marks_the_trial(masked_run):
    t, (honest, *masked) = masked_run
    best = max(range(len(masked)), key=lambda i: (masked[i][R.VAL_ROBUST_ACC], -i))
    assert all(m[R.VAL_ROBUST_ACC] > honest[R.VAL_ROBUST_ACC] for m in masked)  # the check leaves it ahead here
    assert t.best_epoch == best + 2 and masked[-1][R.BEST_EPOCH] == best + 2
    assert masked[-1][R.BEST_MASKED] == 1.0 and honest[R.BEST_MASKED] == 0.0  # the flag travels with the selection
    # the objective is the checked reading, never the PGD reading the masking inflated
    assert masked[-1][R.BEST_VAL_ROBUST] == masked[best][R.VAL_ROBUST_ACC] < masked[best][R.VAL_PGD_ACC]


def test_the_check_breaks_what_pgd_cannot(masked_run):
    t, _ = masked_run
    x, y = next(iter(t.data.val_batches(64)))
    model = t.net.eval()
    ok = masking_check(model, x, y, 76.5 / 255, "linf", t.cfg.eval.masking)
    with torch.no_grad():
        clean_ok = model(x).argmax(1) == y
    assert ok.sum() < clean_ok.sum() * 0.85


class SaturatedLogits(nn.Module):
    """Logits scaled by 1e4: the softmax saturates, so the cross-entropy gradient of a confidently classified
    image underflows to 0 in fp32 (masking by saturation); the DLR loss is scale-invariant and still sees it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) * 1e4


def test_apgd_dlr_sees_what_a_saturated_cross_entropy_hides(masked_run):
    """``apgd_dlr`` chains APGD-DLR on APGD-CE's survivors (Square off here, so nothing random follows): it can
    only remove survivors, and behind saturated logits it breaks what APGD-CE no longer can."""
    from trainables.schema.config import MaskingCheck

    t, _ = masked_run
    x, y = next(iter(t.data.val_batches(128)))
    model = SaturatedLogits(t.model).eval()
    ce = masking_check(model, x, y, 16 / 255, "linf", MaskingCheck(apgd_steps=5, square_queries=0, apgd_targets=0))
    both = masking_check(model, x, y, 16 / 255, "linf",
                         MaskingCheck(apgd_steps=5, square_queries=0, apgd_targets=0, apgd_dlr=True))
    assert not (both & ~ce).any() and both.sum() < ce.sum() - 5


def test_targeted_apgd_sees_what_a_saturated_cross_entropy_hides(masked_run):
    """``apgd_targeted`` chains AutoAttack's APGD-T (DLR-targeted, scale-invariant) on the survivors: it can only
    remove survivors, and behind saturated logits it breaks what APGD-CE no longer can."""
    from trainables.schema.config import MaskingCheck

    t, _ = masked_run
    x, y = next(iter(t.data.val_batches(128)))
    model = SaturatedLogits(t.model).eval()
    ce = masking_check(model, x, y, 16 / 255, "linf", MaskingCheck(apgd_steps=5, square_queries=0, apgd_targets=0))
    top3, all9 = (masking_check(model, x, y, 16 / 255, "linf", MaskingCheck(apgd_steps=5, square_queries=0,
                                                                           apgd_targets=k)) for k in (3, 9))
    assert not (top3 & ~ce).any() and top3.sum() < ce.sum() - 5
    assert not (all9 & ~top3).any()  # more targets: the same first three, then more


def test_masking_gap_is_a_ratio_estimate_that_never_reads_below_zero():
    from trainables.evaluation.masking_flag import masking_gap

    # the check covers the whole split (pgd_acc = 0.25 of 128 = 32 robust, 8 broken): exactly 8 / 128
    assert masking_gap(0.25, 32, 8) == pytest.approx(8 / 128)
    # a subset holding more of the few PGD-robust images than the split: 3 of 256 PGD-robust (0.0117), the
    # first 128 hold 2, both broken; "pgd_acc - broken / n" read 0.0117 - 0.0156 < 0, the ratio reads 0
    assert 3 / 256 - masking_gap(3 / 256, 2, 2) == pytest.approx(0.0)
    assert masking_gap(0.5, 10, 3) == pytest.approx(0.15) and masking_gap(0.5, 0, 0) == 0.0
