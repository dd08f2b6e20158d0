"""Issue 13, item 5 (and the single-step attacks the review found identical): every method's training attack,
built from its default config, equals the reference repository's attack, BatchNorm mode included.

Reference BN modes (read from the reference code, docs/method.md §3): fast_adversarial (FGSM, RS-FGSM),
robust_overfitting (PGD-AT), N-FGSM and GradAlign build the training attack with the model in train mode;
TRADES builds it in eval mode. The model here has BatchNorm, so a wrong mode changes x* (the last test
checks that it does). Tolerance: 1e-6 on x* (the same random draws, the same steps; float32 sums of
gradients in a different order can flip no sign here, so in practice the points are identical) and 1e-5
on the GradAlign loss.
"""
from __future__ import annotations

import copy

import pytest
import torch

import references as ref
from conftest import EPS
from trainables.schema.config import DERConfig, MethodConfig
from trainables.methods import build_method

EPS255 = EPS * 255


def _data(robust_mnist, n=64):
    model, x, y = robust_mnist
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad_(True)
    return model, x[:n], y[:n]


def _ours(model, x, y, **method):
    meth = build_method(MethodConfig(**method), DERConfig())
    model.train()
    return meth.attack(model, x, y).x_adv


CASES = {
    "fgsm": (dict(name="fgsm", epsilon=EPS255),
             lambda m, x, y: x + ref.fgsm_train_delta(m, x, y, EPS, EPS, init="zero"), "train"),
    "rs_fgsm": (dict(name="rs_fgsm", epsilon=EPS255),
                lambda m, x, y: x + ref.fgsm_train_delta(m, x, y, EPS, 1.25 * EPS, init="random"), "train"),
    "n_fgsm": (dict(name="n_fgsm", epsilon=EPS255),
               lambda m, x, y: x + ref.nfgsm_train_delta(m, x, y, EPS, EPS, k=2.0), "train"),
    "pgd": (dict(name="pgd", epsilon=EPS255, steps=5),
            lambda m, x, y: x + ref.pgd_delta(m, x, y, EPS, EPS / 4, 5, 1, early_stop=False), "train"),
    "trades": (dict(name="trades", epsilon=EPS255, steps=5),
               lambda m, x, y: ref.trades_x_adv(m, x, EPS, EPS / 4, 5), "eval"),
    "gradalign": (dict(name="gradalign", epsilon=EPS255),
                  lambda m, x, y: x + ref.fgsm_train_delta(m, x, y, EPS, EPS, init="zero"), "train"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_attack_equals_the_reference(robust_mnist, name):
    method, reference, mode = CASES[name]
    model, x, y = _data(robust_mnist)
    m1, m2 = copy.deepcopy(model), copy.deepcopy(model)
    torch.manual_seed(5)
    mine = _ours(m1, x, y, **method)
    m2.train(mode == "train")
    torch.manual_seed(5)
    theirs = reference(m2, x, y)
    assert (mine - theirs).abs().max().item() <= 1e-6
    if name == "pgd":
        # robust_overfitting's attack_pgd makes one more train-mode forward per restart (its max-loss bookkeeping),
        # one more BN-statistics update on x*; with one restart the platform skips that forward (1 of 11 forwards)
        return
    # a train-mode attack updates BatchNorm statistics in the reference too; the same updates must happen here
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k


def test_the_bn_mode_matters_on_this_model(robust_mnist):
    """If train and eval mode gave the same x*, the test above could not tell a wrong default."""
    model, x, y = _data(robust_mnist)
    torch.manual_seed(5)
    train_mode = _ours(copy.deepcopy(model), x, y, name="pgd", epsilon=EPS255, steps=5)
    torch.manual_seed(5)
    eval_mode = _ours(copy.deepcopy(model), x, y, name="pgd", epsilon=EPS255, steps=5, attack_bn_mode="eval")
    assert (train_mode - eval_mode).abs().max().item() > 1e-3


def test_gradalign_loss_equals_the_reference(robust_mnist):
    model, x, y = _data(robust_mnist, n=32)
    meth = build_method(MethodConfig(name="gradalign", epsilon=EPS255, gradalign_lambda=0.2), DERConfig())
    m1, m2 = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    torch.manual_seed(9)
    adv = meth.attack(m1, x, y)
    mine = meth.losses(m1, x, y, adv).loss
    torch.manual_seed(9)
    x_adv = x + ref.fgsm_train_delta(m2, x, y, EPS, EPS, init="zero")
    theirs = ref.gradalign_loss(m2, x, y, x_adv, EPS, 0.2)
    assert abs(mine.item() - theirs.item()) <= 1e-5
