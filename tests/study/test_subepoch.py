"""Sub-epoch reports (eval.report_every) on a real local Ray, SQLite Optuna and MLflow: a rule stops a trial
mid-epoch, and the reason and the step reach Optuna, MLflow and `study status` (issue 15). The ΔE rule detects a
failure, so every stopped trial keeps its result (its checkpoint selected at epoch 1): COMPLETE with its value,
exported and named "result kept" (issue 25)."""
from __future__ import annotations

import json

import optuna
import pytest
import torch

from study.cli.main import main
from study.run.engine import run_study
from study.run.options import resolve_options
from study.spec.spec import load_spec
from testlib import tiny_spec
from trainables.schema import records as R

WATCHED = R.TRAIN_DELTA_MEAN
# 512 images / batch 64 = 8 steps per epoch, a report every 2 steps: windows end at steps 2, 4, 6 (reports) and
# 8 (with the epoch record). Any change stops the trial, but never within the first epoch: the first report
# after it, step 10 (epoch 1.25), is mid-epoch.
HAIR_TRIGGER = {"delta_energy": {"enabled": True, "metric": WATCHED, "grace_epochs": 1, "window": 2, "threshold": 1e-6,
                                 "min_scale": 1e-9, "rel_scale": 0.0},
                "probe": {"enabled": False}, "degenerate": {"enabled": False}}
STOP_STEP, STOP_EPOCH = 10, 1.25


@pytest.fixture(scope="module")
def study(mnist_env, local_ray, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subepoch")
    ws = tmp / "ws"
    spec = load_spec(tiny_spec(mnist_env, tmp, name="windows", epochs=3, num_samples=2, stopping=HAIR_TRIGGER,
                               eval__report_every=2))
    opts = resolve_options(str(ws))
    run_study(spec, "windows", opts)
    return ws, opts


def _children(opts):
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(tracking_uri=opts.mlflow_uri)
    exp = cl.get_experiment_by_name("windows")
    return cl, [r for r in cl.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]


def test_optuna_holds_the_reason_the_step_and_the_last_epochs_metrics(study):
    _, opts = study
    trials = optuna.load_study(study_name="windows", storage=opts.optuna_storage).trials
    assert len(trials) == 2
    for t in trials:
        assert t.state.name == "COMPLETE"  # the ΔE rule keeps the trial's result...
        assert t.value == pytest.approx(t.user_attrs["metrics"][R.BEST_VAL_ROBUST])  # ...its selected epoch's reading
        assert t.user_attrs["stop_reasons"] == [R.STOP_DELTA_ENERGY]
        assert t.user_attrs["stop_steps"] == [STOP_STEP] and t.user_attrs["epochs"] == [STOP_EPOCH]
        assert R.VAL_PGD_ACC in t.user_attrs["metrics"]  # from epoch 1: a window report holds no validation


def test_mlflow_tags_and_separate_window_and_epoch_series(study):
    _, opts = study
    cl, children = _children(opts)
    assert len(children) == 2
    for c in children:
        tags, rid = c.data.tags, c.info.run_id
        assert (tags[R.STOP_REASON], tags[R.STOP_STEP], tags[R.STOP_EPOCH]) == ("delta_energy", "10", "1.25")
        assert tags["stop_outcome"] == "stopped (ΔE divergence at step 10), result kept"
        assert c.info.status == "FINISHED"
        steps = lambda key: sorted(m.step for m in cl.get_metric_history(rid, key))  # noqa: E731
        assert steps(R.window_key(WATCHED)) == [2, 4, 6, 8, 10]  # one series at the global step
        assert steps(R.window_key(R.PROBE_PGD_ACC)) == [2, 4, 6, 8, 10]
        assert steps(WATCHED) == [1] and steps(R.VAL_PGD_ACC) == [1]  # epoch-level: at the epoch, epoch 1 only
        assert {m.value for m in cl.get_metric_history(rid, R.WINDOW_EPOCH)} == {0.25, 0.5, 0.75, 1.0, 1.25}


def test_window_reports_carry_no_checkpoint(study):
    _, opts = study
    _, children = _children(opts)
    for c in children:
        state = torch.load(f"{c.data.tags['checkpoint_path']}/state.pt", weights_only=True, map_location="cpu")
        assert state["epoch"] == 1  # the trial's last checkpoint is its last epoch's, not the stopping window's


def test_status_shows_the_stop_step(study, capsys):
    ws, _ = study
    assert main(["status", "windows", "--workspace", str(ws), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["trials"]
    assert [(r["stop_reason"], r["stop_step"], r["epochs"]) for r in rows] == [("delta_energy", 10, 1.25)] * 2
    assert main(["status", "windows", "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split()[:2] in (["0", "COMPLETE"], ["1", "COMPLETE"])]
    assert len(rows) == 2 and all(r[2:5] == ["ΔE", "divergence", "at"] for r in rows)  # "… at step 10, result kept"
    assert out.count("result kept") >= 2 and "step 10," in out


def test_export_writes_the_stopped_trials_that_kept_their_result(study, tmp_path, capsys):
    ws, opts = study
    out = tmp_path / "export"
    assert main(["export", "windows", "--workspace", str(ws), "--top", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["trials"]) == 2 and all(r["state"] == "COMPLETE" for r in summary["trials"])
    for r in summary["trials"]:
        text = (out / r["config"]).read_text()
        header = [x for x in text.splitlines() if x.startswith("#")]
        assert any("stopped (ΔE divergence at step 10), result kept" in x for x in header), header


def test_export_refuses_to_rank_by_a_test_metric(study, tmp_path, capsys):
    ws, _ = study
    out = tmp_path / "by_test"
    assert main(["export", "windows", "--workspace", str(ws), "--metric", "test/last/pgd20x1_acc",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "test-set reading" in err and "validation" in err
    assert not out.exists()
