"""Values outside their physical range (trainables.schema.ranges): which are refused, which only warned about, at which
boundaries; the refusals reach every config through validation (the CLI matrix of refusals is the
"physical ranges" class of tests/study/test_bad_inputs.py)."""
from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from trainables.schema.config import RunConfig
from trainables.data import DatasetFacts
from trainables.schema.ranges import config_findings, data_findings

MNIST = DatasetFacts("mnist", 60000, 10000, 10, 1, (28, 28))


def fields(findings, refuse):
    return [f.field for f in findings if f.refuse is refuse]


@pytest.mark.parametrize("over, field", [
    ({"method": {"epsilon": 127.5}}, "method.epsilon"),
    ({"method": {"epsilon": 300}}, "method.epsilon"),
    ({"eval": {"epsilon": 128}}, "eval.epsilon"),
    ({"method": {"epsilon": 8, "alpha": 255.5}}, "method.alpha"),
    ({"eval": {"pgd_alpha": 300}}, "eval.pgd_alpha"),
])
def test_meaningless_values_are_refused_by_validation(over, field):
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        RunConfig.model_validate(over)


@pytest.mark.parametrize("over", [
    {"method": {"epsilon": 127.4}},  # just inside: the all-grey image is out of reach
    {"method": {"name": "rs_fgsm", "epsilon": 76.5, "alpha": 95.625}},  # fast_adversarial's MNIST recipe
    {"method": {"name": "pgd", "norm": "l2", "epsilon": 127.5}},  # L2 0.5: not an L∞ radius, no L∞ rule
    {"method": {"epsilon": 8, "alpha": 16}},  # exactly 2ε: the largest step that still matters
])
def test_values_inside_their_range_pass_without_a_finding(over):
    assert config_findings(RunConfig.model_validate(over)) == []


@pytest.mark.parametrize("over, field, needle", [
    ({"method": {"epsilon": 8, "alpha": 20}}, "method.alpha", "behaves as with a step of 16"),
    ({"method": {"name": "n_fgsm", "epsilon": 8, "alpha": 20}}, "method.alpha", "N-FGSM"),
    ({"method": {"name": "pgd", "epsilon": 8, "alpha": 0.5, "steps": 10}}, "method.alpha", "cannot reach"),
    ({"der": {"weight": 100}}, "der.weight", "constant classifier"),
    ({"der": {"joint_weight": 1}}, "der.joint_weight", "constant classifiers"),
])
def test_legal_but_suspicious_values_are_warnings(over, field, needle):
    cfg = RunConfig.model_validate(over)  # accepted
    found = config_findings(cfg)
    assert fields(found, refuse=False) == [field] and needle in found[0].text


def test_data_rules_need_the_image_size_and_the_split():
    l2 = RunConfig.model_validate({"method": {"name": "pgd", "norm": "l2", "epsilon": 3570, "steps": 2}})
    assert fields(data_findings(l2, MNIST), refuse=True) == ["method.epsilon", "eval.epsilon"]
    inside = RunConfig.model_validate({"method": {"name": "pgd", "norm": "l2", "epsilon": 3569, "steps": 2}})
    assert fields(data_findings(inside, MNIST), refuse=True) == []  # 0.5·√784·255 = 3570 is the boundary
    small = RunConfig.model_validate({"data": {"name": "mnist", "train_subset": 100, "val_size": 50, "test_subset": 20},
                                      "batch_size": 128, "eval": {"probe_size": 256, "autoattack_n": 1000,
                                                                  "masking": {"n": 128}}})
    assert sorted(fields(data_findings(small, MNIST), refuse=False)) == [
        "batch_size", "eval.autoattack_n", "eval.masking.n", "eval.probe_size"]


def test_study_run_collects_warnings_over_the_searched_values(mnist_env, tmp_path):
    """A searched DER weight up to 1000 warns once, naming the searched value; the base config warns nothing."""
    from study.kinds.preflight import range_warnings
    from study.spec.spec import load_spec
    from testlib import tiny_spec

    path = tiny_spec(mnist_env, tmp_path, search={"parameters": {
        "der.weight": {"distribution": "loguniform", "low": 0.01, "high": 1000}}})
    lines = range_warnings(load_spec(path))
    assert len(lines) == 1 and "search parameter der.weight = 1000" in lines[0] and "constant classifier" in lines[0]


def test_study_train_prints_the_warnings_and_trains(mnist_env, tmp_path, capsys):
    from study.cli.main import main
    from testlib import tiny_run

    cfg = tiny_run(mnist_env, epochs=1, method={"name": "fgsm", "epsilon": 20, "alpha": 50},
                   data__train_subset=64, eval__final=False)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--workspace", str(tmp_path / "ws")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: method.alpha = 50 is more than twice method.epsilon = 20" in out
    assert "warning: batch_size = 64" not in out and "epoch 1/1" in out
