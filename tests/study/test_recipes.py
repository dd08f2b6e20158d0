"""Every published recipe in search_spaces/recipes/ loads as a run config, names its source, and states its
figures under metric names the platform reports (issue 14)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from study.cli.commands.train import load_run_config

RECIPES = sorted((Path(__file__).resolve().parents[2] / "search_spaces" / "recipes").glob("*.yaml"))
TEST_METRIC = re.compile(r"^test/(best|last)/(clean_acc|pgd\d+x\d+_acc|autoattack_acc)$")


def test_the_claimed_recipes_are_there():
    assert {p.stem for p in RECIPES} >= {"fa_mnist_fgsm", "fa_cifar10_fgsm", "ro_cifar10_pgd", "nfgsm_cifar10",
                                         "trades_cifar10"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_loads_and_names_its_source_and_figures(path):
    cfg = load_run_config(str(path))
    assert cfg.name == path.stem
    assert cfg.reference is not None and len(cfg.reference.source) > 20
    for metric, value in cfg.reference.figures.items():
        assert TEST_METRIC.match(metric), metric
        assert 0 < value < 1, (metric, value)
        pgd = re.match(r"test/\w+/pgd(\d+)x(\d+)_acc", metric)
        if pgd:  # the recipe evaluates the attack its figure was measured with
            assert (int(pgd.group(1)), int(pgd.group(2))) in [tuple(t) for t in cfg.eval.test_pgd], metric
    cfg.resolved()  # every derived default resolves


def test_mnist_recipe_is_fast_adversarials():
    cfg = load_run_config(str(next(p for p in RECIPES if p.stem == "fa_mnist_fgsm"))).resolved()
    assert (cfg.model.name, cfg.model.width, cfg.model.batchnorm, cfg.model.normalize) == ("small_cnn", 16, False, False)
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay) == ("adam", 0.005, 0.0)
    assert (cfg.method.name, cfg.method.epsilon, cfg.method.alpha, cfg.method.clip_start) == ("rs_fgsm", 76.5, 95.625, False)
    assert (cfg.schedule.name, cfg.schedule.warmup_fraction, cfg.epochs, cfg.batch_size) == ("cyclic", 0.4, 10, 100)
    from trainables.evaluation.defaults import step

    assert step(cfg.eval_epsilon, 50, "mnist", test=True) == 2.55  # test PGD-50 at step 0.01, as evaluate_mnist.py
