"""End to end on a real local Ray, SQLite Optuna and SQLite MLflow with tiny MNIST trials."""
from __future__ import annotations

import json

import optuna
import pytest

from study.stores.catalog import Catalog
from study.cli.main import main
from study.run.engine import run_study
from study.run.options import resolve_options
from study.spec.spec import load_spec
from study.results.status import trial_rows
from testlib import tiny_spec
from trainables.schema import records as R

HAIR_TRIGGER = {"delta_energy": {"enabled": True, "grace_epochs": 0, "window": 2, "threshold": 1e-6, "min_scale": 1e-9,
                                 "rel_scale": 0.0}, "probe": {"enabled": False}}

GRID_ONLY = {"n": 20, "sampler": {"steps": 2}, "metrics": {"fid": False, "kid": False, "isc": False},
             "grid": {"per_class": 2, "nrow": 2}, "threads": 1}  # generate after training: grids, no IS/FID


@pytest.fixture(scope="module")
def studies(mnist_env, local_ray, tmp_path_factory):
    """Two finished studies in one workspace: one whose trials are all stopped by the ΔE rule, one plain."""
    tmp = tmp_path_factory.mktemp("engine")
    ws = tmp / "ws"
    opts = resolve_options(str(ws))
    stopped = load_spec(tiny_spec(mnist_env, tmp, name="stopped", stopping=HAIR_TRIGGER))
    run_study(stopped, "stopped", opts)
    plain = load_spec(tiny_spec(mnist_env, tmp, name="plain", epochs=2, num_samples=2, generate=GRID_ONLY))
    run_study(plain, "plain", resolve_options(str(ws)))
    return ws, opts


def _study(opts, name):
    return optuna.load_study(study_name=name, storage=opts.optuna_storage)


def test_every_trial_is_in_optuna_with_its_state(studies):
    ws, opts = studies
    assert [t.state.name for t in _study(opts, "plain").trials] == ["COMPLETE", "COMPLETE"]
    stopped = _study(opts, "stopped").trials
    assert len(stopped) == 3
    # stopped by the ΔE rule (a failure detector): each keeps its result, COMPLETE with its selected epoch's value
    assert {t.state.name for t in stopped} == {"COMPLETE"}
    assert all(t.value == t.user_attrs["metrics"][R.BEST_VAL_ROBUST] for t in stopped)
    assert all(t.user_attrs["stop_reasons"] == ["delta_energy"] for t in stopped)


def test_status_shows_reason_epochs_params_metrics(studies, capsys):
    ws, opts = studies
    rows = trial_rows(opts.optuna_storage, "stopped")
    assert all(r.stop_reason == "delta_energy" and r.epochs == 3 for r in rows)
    assert main(["status", "stopped", "--workspace", str(ws), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    t = out["trials"][0]
    assert set(t) >= {"number", "state", "stop_reason", "epochs", "params", "metrics"}
    assert set(t["params"]) == {"der.weight", "method.epsilon"}
    assert R.VAL_PGD_ACC in t["metrics"]
    assert main(["status", "plain", "--workspace", str(ws)]) == 0
    assert "COMPLETE" in capsys.readouterr().out


def test_catalog_lists_both_studies(studies, capsys):
    ws, _ = studies
    assert [r.name for r in Catalog.open(ws).all()] == ["stopped", "plain"]
    assert {r.status for r in Catalog.open(ws).all()} == {"finished"}
    assert main(["list", "--workspace", str(ws)]) == 0
    assert "stopped" in capsys.readouterr().out


def test_completed_trials_carry_final_test_metrics(studies):
    _, opts = studies
    for t in _study(opts, "plain").trials:
        assert 0 <= t.user_attrs["metrics"]["test/best/pgd3x1_acc"] <= 1
        assert t.value == t.user_attrs["metrics"][R.BEST_VAL_ROBUST]  # the default objective (issue 14)


def test_existing_name_is_refused_without_touching_the_study(studies, mnist_env, tmp_path):
    ws, opts = studies
    before = (ws / "catalog.db").read_bytes()
    rc = main(["run", str(tiny_spec(mnist_env, tmp_path, name="plain")), "--workspace", str(ws)])
    assert rc == 2
    assert (ws / "catalog.db").read_bytes() == before
    assert len(_study(opts, "plain").trials) == 2


# ---------------------------------------------------------------- the MLflow ledger
def _mlflow(opts):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=opts.mlflow_uri)


def _runs(opts, name):
    cl = _mlflow(opts)
    exp = cl.get_experiment_by_name(name)
    runs = cl.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return cl, parents, children


def test_one_parent_and_one_child_per_trial(studies):
    ws, opts = studies
    cl, parents, children = _runs(opts, "stopped")
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert Catalog.open(ws).get("stopped").mlflow_parent_run_id == parent.info.run_id
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    ray_ids = {i for t in _study(opts, "stopped").trials for i in t.user_attrs["ray_trial_ids"]}
    assert {c.data.tags["trial_id"] for c in children} == ray_ids
    tags = parent.data.tags
    assert tags["optuna.study_name"] == "stopped" and tags["optuna.storage"].startswith("sqlite:///")
    assert "git.commit" in tags and "version.torch" in tags
    assert parent.data.params["spec.run.method.name"] == "fgsm"


def test_child_runs_have_histories_config_trace_and_plot(studies):
    _, opts = studies
    cl, _, children = _runs(opts, "stopped")
    for c in children:
        rid = c.info.run_id
        for key in (R.VAL_PGD_ACC, R.TRAIN_DELTA_MEAN, "energy/train/delta_p95", "energy/val/delta_mean",
                    R.PROBE_PGD_ACC, R.LOSS_DER, R.LR, R.TIME_IPS):
            assert [m.step for m in cl.get_metric_history(rid, key)] == [1, 2, 3], key
        names = {a.path for a in cl.list_artifacts(rid)}
        assert {"config.yaml", "energy_trace.csv", "energy_trace.png"} <= names
        assert c.data.tags[R.STOP_REASON] == "delta_energy" and c.data.tags[R.STOP_EPOCH] == "3"
        assert c.info.status == "FINISHED"  # stopped by the rule, its result kept
        assert c.data.tags["stop_outcome"] == "stopped (ΔE divergence at step 24), result kept"
        assert c.data.params["method.name"] == "fgsm" and "der.weight" in c.data.params


def test_completed_children_are_finished_with_test_metrics(studies):
    _, opts = studies
    cl, _, children = _runs(opts, "plain")
    assert len(children) == 2
    for c in children:
        assert c.info.status == "FINISHED"
        assert R.STOP_REASON not in c.data.tags
        assert "test/last/pgd3x1_acc" in c.data.metrics


def test_trials_that_generate_after_training_log_their_grids(studies):
    _, opts = studies
    cl, _, children = _runs(opts, "plain")
    for c in children:
        assert c.data.metrics["gen/mean_steps"] <= 2 and "gen/fid" not in c.data.metrics
        names = {a.path for a in cl.list_artifacts(c.info.run_id, "generation")}
        assert {"generation/grid_all.png", "generation/metrics.json"} <= names
    _, _, stopped = _runs(opts, "stopped")  # stopped trials never reach their last epoch: no generation
    assert not any(k.startswith("gen/") for c in stopped for k in c.data.metrics)


def test_best_trial_model_is_registered_under_the_study_name(studies):
    import mlflow.pytorch
    import torch

    _, opts = studies
    cl = _mlflow(opts)
    versions = cl.search_model_versions("name='plain'")
    assert len(versions) == 1
    v = versions[0]
    best = max(_study(opts, "plain").trials, key=lambda t: t.value)
    assert v.tags["optuna_trial"] == str(best.number)
    assert float(v.tags[R.BEST_VAL_ROBUST]) == best.value
    model = mlflow.pytorch.load_model(f"models:/plain/{v.version}")
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # every trial of the other study was stopped by the ΔE rule and kept its result: its best is registered too
    (kept,) = cl.search_model_versions("name='stopped'")
    stopped = _study(opts, "stopped").trials
    assert float(kept.tags[R.BEST_VAL_ROBUST]) == max(t.value for t in stopped)
