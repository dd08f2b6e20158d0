import pytest
from pydantic import ValidationError

from trainables.schema.config import RunConfig


def test_defaults_are_the_published_pgd_recipe():
    c = RunConfig()
    assert (c.data.name, c.model.name, c.method.name) == ("cifar10", "preact_resnet18", "pgd")
    assert c.method.epsilon == 8 and c.method.steps == 10 and c.method.alpha is None  # α = ε/4 = 2/255
    o = c.resolved().optim  # the optimizer registry's SGD defaults (robust_overfitting)
    assert (c.epochs, c.batch_size, o.name, o.lr, o.momentum, o.weight_decay) == (200, 128, "sgd", 0.1, 0.9, 5e-4)
    assert c.schedule.name == "piecewise" and c.schedule.milestones == [0.5, 0.75]
    assert c.data.val_size == 1000 and c.der.weight == 0 and c.method.trades_beta == 6


@pytest.mark.parametrize(
    "patch,field,needle",
    [
        ({"method": {"name": "fgsn"}}, "method.name", "rs_fgsm"),
        ({"model": {"name": "resnet"}}, "model.name", "preact_resnet18"),
        ({"data": {"name": "imagenet22k"}}, "data.name", "cifar10"),
        ({"method": {"epsilon": 0}}, "method.epsilon", "greater than 0"),
        ({"method": {"epsilon": -8}}, "method.epsilon", "greater than 0"),
        ({"der": {"rho": "cube"}}, "der.rho", "square"),
        ({"der": {"weight": -1}}, "der.weight", "greater than or equal"),
        ({"epochs": 0}, "epochs", "greater than or equal"),
        ({"schedule": {"milestones": [0.75, 0.5]}}, "schedule.milestones", "increasing"),
        ({"optimizer": {"lr": 0.1}}, "optimizer", "Extra inputs"),
        ({"method": {"name": "fgsm", "norm": "l2"}}, "", "only supported by the pgd attack"),
        ({"method": {"attack": "cw"}}, "method.attack", "trades_kl"),
    ],
)
def test_validation_errors_name_field_and_allowed_values(patch, field, needle):
    with pytest.raises(ValidationError) as info:
        RunConfig.model_validate(patch)
    errs = info.value.errors()
    locs = [".".join(str(p) for p in e["loc"]) for e in errs]
    assert any(loc == field for loc in locs), locs
    assert needle in str(info.value)
