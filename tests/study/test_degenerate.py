"""Degenerate trials are named, not mistaken for results (issue 16), end to end on a real local Ray, SQLite
Optuna and SQLite MLflow with tiny MNIST trials.

A DER weight of 1e5 under Adam (which keeps the step bounded, so the loss stays finite instead of
overflowing to NaN) drives every trial that draws it to a constant classifier: its validation clean
accuracy sits at the majority-class share from the first epoch on (measured on this tiny run, seeds 0-2:
0.047-0.148 against a chance share of 0.141, while λ = 0 reaches 0.75-0.85 by epoch 3). The ``degenerate``
rule must stop it after its grace epochs, and the stop must reach Optuna (PRUNED), MLflow (the tag, the
run KILLED), ``study status``, the report, and never let the trial be selected: the study is scored
with ``mode: min`` on ``best/val_robust_acc``, so a constant classifier, had it counted, would win.
"""
from __future__ import annotations

import json

import optuna
import pytest
import yaml

from study.cli.main import main
from study.run.engine import run_study
from study.run.options import resolve_options
from study.spec.spec import load_spec
from testlib import tiny_spec
from trainables.schema import records as R

pytestmark = pytest.mark.slow

FORCE = 1e5  # the DER weight that forces the collapse
NAME = "degen"
EPOCHS, GRACE = 4, 2


def _spec(root, tmp):
    """Tiny FGSM trials at ε = 25/255 with Adam; the search draws λ ∈ {0, FORCE} (random sampler, seed 0: FORCE,
    0, FORCE); only the degenerate rule is on."""
    path = tiny_spec(root, tmp, name=NAME, epochs=EPOCHS, num_samples=3,
                     stopping={"delta_energy": {"enabled": False}, "probe": {"enabled": False},
                               "degenerate": {"grace_epochs": GRACE}},
                     search={"parameters": {"der.weight": {"distribution": "choice", "values": [0.0, FORCE]}},
                             "sampler": "random", "seed": 0, "mode": "min"},
                     method__epsilon=25, optim={"name": "adam", "lr": 0.005})
    spec = yaml.safe_load(path.read_text())
    spec["run"]["eval"]["epsilon"] = 25
    path.write_text(yaml.safe_dump(spec))
    return load_spec(path)


@pytest.fixture(scope="module")
def study(mnist_env, local_ray, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("degenerate")
    opts = resolve_options(str(tmp / "ws"))
    run_study(_spec(mnist_env, tmp), NAME, opts)
    trials = optuna.load_study(study_name=NAME, storage=opts.optuna_storage).trials
    forced = [t for t in trials if t.params["der.weight"] == FORCE]
    healthy = [t for t in trials if t.params["der.weight"] == 0.0]
    assert forced and healthy, f"the seeded sampler drew {[t.params for t in trials]}: the test needs both weights"
    return opts, tmp / "ws", forced, healthy


def test_forced_collapse_is_pruned_with_its_reason(study):
    _, _, forced, healthy = study
    for t in forced:
        assert t.state.name == "PRUNED"  # (Optuna keeps a pruned trial's last intermediate value as its value)
        assert t.user_attrs["stop_reasons"] == [R.STOP_DEGENERATE]
        assert t.user_attrs["epochs"] == [GRACE + 1]  # stopped at the first epoch after the grace period
        m = t.user_attrs["metrics"]
        assert m[R.VAL_CLEAN_ACC] <= m[R.VAL_CHANCE_ACC] + 0.02  # the rule's reading, as recorded
    for t in healthy:
        assert t.state.name == "COMPLETE" and t.user_attrs["stop_reasons"] == [None]
        assert t.user_attrs["epochs"] == [EPOCHS]
        assert t.user_attrs["metrics"][R.VAL_CLEAN_ACC] > t.user_attrs["metrics"][R.VAL_CHANCE_ACC] + 0.2


def test_never_the_best_even_when_its_value_would_win(study, capsys):
    opts, ws, forced, healthy = study
    at_stop = [t.user_attrs["values_at_stop"][0] for t in forced]
    assert max(at_stop) < min(t.value for t in healthy)  # under mode: min the constant classifier would win...
    best = optuna.load_study(study_name=NAME, storage=opts.optuna_storage).best_trial
    assert best.number in {t.number for t in healthy}  # ...but Optuna only ranks COMPLETE trials
    assert main(["status", NAME, "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "degenerate" in out
    row = next(line for line in out.splitlines() if line.split()[:2] == [str(best.number), "COMPLETE"])
    assert "degenerate" not in row


def test_status_json_names_the_reason(study, capsys):
    _, ws, forced, _ = study
    assert main(["status", NAME, "--workspace", str(ws), "--json"]) == 0
    rows = {t["number"]: t for t in json.loads(capsys.readouterr().out)["trials"]}
    for t in forced:
        assert rows[t.number]["stop_reason"] == R.STOP_DEGENERATE and rows[t.number]["state"] == "PRUNED"
        assert rows[t.number]["epochs"] == GRACE + 1


def test_export_skips_it(study, tmp_path, capsys):
    _, ws, forced, healthy = study
    out = tmp_path / "export"
    assert main(["export", NAME, "--workspace", str(ws), "--out", str(out), "--top", "5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(r["number"] for r in summary["trials"]) == sorted(t.number for t in healthy)
    for t in forced:
        assert not (out / f"trial_{t.number}.yaml").exists()


def test_mlflow_names_it_and_ends_the_run_killed(study):
    from mlflow.tracking import MlflowClient

    opts, _, forced, healthy = study
    cl = MlflowClient(tracking_uri=opts.mlflow_uri)
    exp = cl.get_experiment_by_name(NAME)
    runs = {r.data.tags.get("trial_id"): r for r in cl.search_runs([exp.experiment_id])}
    for t in forced:
        (run,) = [runs[i] for i in t.user_attrs["ray_trial_ids"]]
        assert run.data.tags[R.STOP_REASON] == R.STOP_DEGENERATE
        assert run.data.tags[R.STOP_EPOCH] == str(GRACE + 1)
        assert run.info.status == "KILLED"
        clean = cl.get_metric_history(run.info.run_id, R.VAL_CLEAN_ACC)
        assert len(clean) == GRACE + 1
    for t in healthy:
        (run,) = [runs[i] for i in t.user_attrs["ray_trial_ids"]]
        assert R.STOP_REASON not in run.data.tags and run.info.status == "FINISHED"


def test_report_shows_it_as_degenerate(study, tmp_path):
    from dashboards.data import COMPLETED, DEGENERATE, OUTCOME_LABELS, load_study

    _, ws, forced, healthy = study
    data = load_study(ws, NAME)
    outcomes = {t.number: t.outcome for t in data.trials}
    assert {outcomes[t.number] for t in forced} == {DEGENERATE}
    assert {outcomes[t.number] for t in healthy} == {COMPLETED}
    page = tmp_path / "r.html"
    assert main(["report", NAME, "--workspace", str(ws), "--out", str(page)]) == 0
    assert OUTCOME_LABELS[DEGENERATE] in page.read_text(encoding="utf-8")


def test_registered_model_is_a_healthy_trial(study):
    from mlflow.tracking import MlflowClient

    opts, _, forced, healthy = study
    cl = MlflowClient(tracking_uri=opts.mlflow_uri)
    versions = cl.search_model_versions(f"name='{NAME}'")
    assert versions, "the finished study registers its best trial's model"
    assert {v.tags["optuna_trial"] for v in versions} <= {str(t.number) for t in healthy}
