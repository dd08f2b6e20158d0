"""Issue 13, item 1: AutoAttack at the standard strength, held against fra31's own implementation.

torchattacks' ``AutoAttack(version="standard")`` runs its APGD/FAB components at 10 iterations;
``trainables.attacks.autoattack`` builds them at fra31's 100 (9 target classes, Square 5,000 queries).

Tolerance: 2 of the 64 images (3 %). Both are randomised ensembles (APGD's random start, Square's random
squares) seeded differently by the two packages, so points on the boundary of the ball may fall either
way; a systematic weakness such as 10 instead of 100 iterations showed as 5 images of 256 (issue 13) and
3 of 128 on this model at 2ε. AutoAttack must also be at least as strong as a 20-step PGD on the same images.
"""
from __future__ import annotations

import pytest
import torch

from conftest import EPS
from references import fra31_autoattack, pgd_accuracy
from trainables.attacks.autoattack import VERSIONS, autoattack_accuracy

N = 64


@pytest.mark.slow
def test_standard_autoattack_matches_fra31(robust_mnist):
    model, x, y = robust_mnist
    x, y, eps = x[:N], y[:N], 2 * EPS
    ours = autoattack_accuracy(model, x, y, eps, "linf", 10, 256, seed=0)
    theirs = fra31_autoattack(model, x, y, eps, seed=0)
    assert abs(ours - theirs) * N <= 2, (ours, theirs)
    torch.manual_seed(0)
    assert ours <= pgd_accuracy(model, x, y, eps, eps / 4, 20, 1)


def test_the_cheaper_variant_never_reports_as_autoattack():
    assert VERSIONS["standard"].metric == "autoattack_acc"
    assert all(v.metric != "autoattack_acc" for k, v in VERSIONS.items() if k != "standard")


def test_components_run_at_fra31s_standard_settings(robust_mnist):
    model, _, _ = robust_mnist
    apgd_ce, apgd_t, fab_t, square = VERSIONS["standard"].components(model, "Linf", 0.1, 10, 0)
    assert (apgd_ce.steps, apgd_ce.loss, apgd_ce.n_restarts) == (100, "ce", 1)
    assert (apgd_t.steps, apgd_t.n_target_classes, apgd_t.n_restarts) == (100, 9, 1)
    assert (fab_t.steps, fab_t.multi_targeted, fab_t.n_target_classes, fab_t.n_restarts) == (100, True, 9, 1)
    assert (square.n_queries, square.p_init, square.n_restarts, square.rescale_schedule) == (5000, 0.8, 1, False)
