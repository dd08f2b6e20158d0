"""Issue 13, item 4: robust accuracy under PGD counts a sample as broken if any iterate of any restart
broke it, as fast_adversarial's and robust_overfitting's ``attack_pgd`` do.

Tolerance: exact. The reference loop (tests/conformance/references.py) and torchattacks' PGD draw their
random starts with the same calls, in the same order and shapes, as the platform's PGD, so with one seed
all three start every restart from the same point: with one restart the platform must equal the
reference exactly, with restarts it may only find more errors (it prefers a misclassifying restart, the
reference the highest-loss one), and it can never be weaker than torchattacks' PGD, which lets a broken
sample walk back to being classified correctly.
"""
from __future__ import annotations

import pytest
import torch

from conftest import EPS
from references import pgd_accuracy
from trainables.attacks import build_attack
from trainables.evaluation.evaluate import robust_accuracy


def ours(model, x, y, eps, alpha, steps, restarts):
    atk = build_attack("pgd", eps * 255, alpha * 255, steps=steps, restarts=restarts, bn="eval", early_stop=True)
    return robust_accuracy(model, [(x, y)], atk)["adv_acc"]


@pytest.mark.parametrize("eps", [EPS, 2 * EPS])
def test_one_restart_equals_the_reference_loop(robust_mnist, eps):
    model, x, y = robust_mnist
    torch.manual_seed(1)
    mine = ours(model, x, y, eps, eps / 4, 10, 1)
    torch.manual_seed(1)
    ref = pgd_accuracy(model, x, y, eps, eps / 4, 10, 1)
    assert mine == ref


@pytest.mark.parametrize("eps", [EPS, 2 * EPS])
def test_restarts_never_weaker_than_the_reference_loop(robust_mnist, eps):
    model, x, y = robust_mnist
    torch.manual_seed(2)
    mine = ours(model, x, y, eps, 0.01, 20, 4)
    torch.manual_seed(2)
    ref = pgd_accuracy(model, x, y, eps, 0.01, 20, 4)
    assert mine <= ref


@pytest.mark.parametrize("eps", [EPS, 2 * EPS])
def test_never_weaker_than_torchattacks_pgd(robust_mnist, eps):
    import torchattacks

    model, x, y = robust_mnist
    torch.manual_seed(3)
    mine = ours(model, x, y, eps, eps / 4, 10, 1)
    torch.manual_seed(3)
    x_adv = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=True)(x, y)
    with torch.no_grad():
        theirs = (model(x_adv).argmax(1) == y).float().mean().item()
    assert mine <= theirs


def test_early_stop_is_what_makes_it_as_strong(robust_mnist):
    """Without early stop (PGD as a training attack) the same attack reads higher than the reference evaluator
    on this model: the difference the evaluators fixed, measured here rather than assumed (summed over 3 seeds
    and 2 step sizes; 9 of 1,536 attacked images at the time of writing, and it fails if it ever vanishes)."""
    model, x, y = robust_mnist
    more_errors_found = 0
    for seed in range(3):
        for alpha in (EPS / 2, EPS):
            torch.manual_seed(seed)
            atk = build_attack("pgd", EPS * 255, alpha * 255, steps=10, bn="eval", early_stop=False)
            walk_back = robust_accuracy(model, [(x, y)], atk)["adv_acc"]
            torch.manual_seed(seed)
            ref = pgd_accuracy(model, x, y, EPS, alpha, 10, 1)
            assert walk_back >= ref
            more_errors_found += round((walk_back - ref) * len(y))
    assert more_errors_found > 0
