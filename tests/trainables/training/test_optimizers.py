"""The optimizer registry: each optimizer built with its reference recipe's defaults, fields checked."""
import pytest
import torch

from trainables.schema.config import OptimConfig, RunConfig
from trainables.training.optimizers import OPTIMIZERS, build_optimizer


def _params():
    return [torch.nn.Parameter(torch.zeros(3))]


def test_registry_holds_sgd_adam_adamw():
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd"]


@pytest.mark.parametrize("name,cls,expect", [
    ("sgd", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),  # robust_overfitting
    ("adam", torch.optim.Adam, {"lr": 5e-3, "weight_decay": 0.0, "betas": (0.9, 0.999)}),  # fast_adversarial MNIST
    ("adamw", torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.01, "betas": (0.9, 0.999)}),
])
def test_defaults_are_the_reference_recipes(name, cls, expect):
    opt = build_optimizer(_params(), OptimConfig(name=name))
    assert type(opt) is cls
    for k, v in expect.items():
        assert opt.param_groups[0][k] == v, k


def test_given_fields_win_over_defaults():
    opt = build_optimizer(_params(), OptimConfig(name="adam", lr=1e-4, betas=(0.5, 0.9)))
    assert opt.param_groups[0]["lr"] == 1e-4 and opt.param_groups[0]["betas"] == (0.5, 0.9)
    assert OptimConfig(name="sgd", momentum=0.5).with_defaults().momentum == 0.5


@pytest.mark.parametrize("bad,needle", [
    ({"name": "adam", "momentum": 0.9}, "does not apply to optimizer 'adam'"),
    ({"name": "sgd", "betas": [0.9, 0.99]}, "does not apply to optimizer 'sgd'"),
    ({"name": "rmsprop"}, "unknown optimizer 'rmsprop'"),
])
def test_fields_that_do_not_fit_are_refused(bad, needle):
    with pytest.raises(ValueError, match=needle):
        RunConfig.model_validate({"optim": bad})


def test_resolved_config_logs_the_defaults():
    assert RunConfig.model_validate({"optim": {"name": "adam"}}).resolved().optim.lr == 5e-3
