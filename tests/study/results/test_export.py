"""``study export`` on a real tiny study (local Ray, SQLite Optuna, SQLite MLflow, MNIST): the selection,
the files, the errors, and the round trip export → ``study train`` reproducing the trial's first epoch."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import optuna
import pytest
import yaml

from study.stores.catalog import Catalog
from study.cli.commands.train import load_run_config
from study.cli.main import main
from study.results.export import DEFAULT_TOP, export_study, select_trials
from study.kinds.exported import export_name, fully_resolved
from study.results.reading import StudyHandle, mlflow_runs, open_study, trial_config
from study.spec.spec import StudySpec
from study.tracking.common import TRIAL_TAG, client
from testlib import tiny_spec
from trainables.schema import records as R
from trainables.schema.config import RunConfig

STUDY = "tiny"


@pytest.fixture(scope="module")
def handle(tiny_study) -> StudyHandle:
    return open_study(tiny_study, STUDY)


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_top_k_by_the_search_metric(tiny_study, handle, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", STUDY, "--workspace", str(tiny_study), "--top", "2", "--out", str(out)]) == 0
    assert "trial_" in capsys.readouterr().out
    study = handle.load_optuna()
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3
    best = sorted(complete, key=lambda t: (-t.value, t.number))[:2]
    s = _summary(out)
    assert [r["number"] for r in s["trials"]] == [t.number for t in best]
    assert best[0].number == study.best_trial.number
    assert s["selection"] == {"kind": "top", "metrics": [R.BEST_VAL_ROBUST], "modes": ["max"], "top": 2}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["summary.csv", "summary.json", *(f"trial_{t.number}.yaml" for t in best)])
    for row, t in zip(s["trials"], best):
        assert row["scores"] == [t.value] and row["params"] == t.params and row["state"] == "COMPLETE"
        assert row["metrics"][R.BEST_VAL_ROBUST] == t.value and row["stop_reason"] is None and row["epochs"] == 3
        assert row["ray_trial_ids"] == t.user_attrs["ray_trial_ids"]
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["number"]) for r in rows] == [t.number for t in best]
    assert float(rows[0][f"score.{R.BEST_VAL_ROBUST}"]) == best[0].value
    assert rows[0]["config"] == f"trial_{best[0].number}.yaml"


def test_mlflow_run_ids_are_found_by_the_trial_id_tag(handle, tmp_path):
    res = export_study(handle, tmp_path / "exp", top=3)
    cl = client(handle.mlflow_uri)
    exp = cl.get_experiment_by_name(STUDY)
    for row in res.rows:
        (ray_id,) = row["ray_trial_ids"]
        (run_id,) = row["mlflow_run_ids"]
        run = cl.get_run(run_id)
        assert run.data.tags[TRIAL_TAG] == ray_id and run.info.experiment_id == exp.experiment_id
        assert run.data.tags["optuna_trial"] == str(row["number"])
    assert _summary(tmp_path / "exp")["mlflow_experiment_id"] == exp.experiment_id


def test_other_metric_is_read_from_the_trial_metrics(handle, tmp_path):
    res = export_study(handle, tmp_path / "exp", top=3, metric=R.VAL_CLEAN_ACC)
    values = [r["scores"][0] for r in res.rows]
    assert values == sorted(values, reverse=True)
    assert values == [r["metrics"][R.VAL_CLEAN_ACC] for r in res.rows]
    low = export_study(handle, tmp_path / "low", top=1, metric=R.TRAIN_DELTA_MEAN, mode="min")
    assert low.rows[0]["scores"][0] == min(r["metrics"][R.TRAIN_DELTA_MEAN] for r in res.rows)


def test_a_new_export_removes_the_configs_of_the_previous_one(handle, tmp_path):
    export_study(handle, tmp_path, top=3)
    assert len(list(tmp_path.glob("trial_*.yaml"))) == 3
    res = export_study(handle, tmp_path, top=1)
    assert [p.name for p in tmp_path.glob("trial_*.yaml")] == [res.rows[0]["config"]]


@pytest.mark.parametrize("args, message", [
    (["nope"], "no study named 'nope'"),
    ([STUDY, "--metric", "val/nope"], "unknown metric 'val/nope'"),
    ([STUDY, "--top", "0"], "--top must be at least 1"),
    ([STUDY, "--metric", R.TRAIN_DELTA_MEAN], "--mode max or --mode min"),
    ([STUDY, "--mode", "up"], "--mode must be max or min"),
])
def test_bad_input_is_exit_2(tiny_study, tmp_path, capsys, args, message):
    assert main(["export", *args, "--workspace", str(tiny_study), "--out", str(tmp_path / "x")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_unwritable_out_dir_is_exit_2(tiny_study, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["export", STUDY, "--workspace", str(tiny_study), "--out", str(blocker / "sub")]) == 2
    assert "is a file" in " ".join(capsys.readouterr().err.split())
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        assert main(["export", STUDY, "--workspace", str(tiny_study), "--out", str(ro / "x")]) == 2
        assert "not writable" in " ".join(capsys.readouterr().err.split())


def test_round_trip_exported_config_reproduces_the_trials_first_epoch(tiny_study, handle, tmp_path, single_thread):
    """The exported YAML is the exact config the worker ran, and training it repeats its epoch 1 bit for bit."""
    from trainables.training.fit import fit
    from trainables.schema.trial import resolve_config

    res = export_study(handle, tmp_path / "exp", top=1)
    row = res.rows[0]
    cfg = load_run_config(str(tmp_path / "exp" / row["config"]))
    (ray_id,), (run_id,) = row["ray_trial_ids"], row["mlflow_run_ids"]
    # 1) what the worker logged as its config, and what Ray handed the trainable
    cl = client(handle.mlflow_uri)
    logged = RunConfig.model_validate(yaml.safe_load(Path(cl.download_artifacts(run_id, "config.yaml", str(tmp_path)))
                                                     .read_text()))
    # the one addition: the data root the study ran with (the worker resolved it from $STUDY_DATA_DIR)
    assert logged.data.root is None and cfg.data.root == Catalog.open(tiny_study).get(STUDY).data_root
    assert cfg.data.root == str(Path(os.environ["STUDY_DATA_DIR"]).absolute())
    ran = cfg.model_copy(deep=True)
    ran.data.root = None
    # the other: every default written out (issue 32), and named after the study and the trial
    name = export_name(STUDY, row["number"])
    assert cfg.name == name and ran.model_dump() == fully_resolved(logged, name).model_dump()
    ray_dir = Path(Catalog.open(tiny_study).get(STUDY).storage_path) / STUDY
    params = json.loads((ray_dir / f"trial_{ray_id}" / "params.json").read_text())
    assert ran.model_dump() == fully_resolved(resolve_config(params), name).model_dump()
    assert None not in (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.method.alpha, cfg.method.attack,
                        cfg.method.attack_bn_mode, cfg.eval.epsilon, cfg.eval.norm, cfg.model.batchnorm, cfg.data.augment)
    header = (tmp_path / "exp" / row["config"]).read_text().split("\nname:")[0]
    assert "every default the trial used is written out; null where it remains:" in header
    assert f"selected epoch {row['metrics'][R.BEST_EPOCH]:g} of 3: the epoch with the highest val/robust_acc" in header
    assert f"retrain it with: study train {row['config']} --epochs N (it trains into runs/{name}" in header
    assert cfg.deterministic and cfg.threads == 1
    # 2) one epoch of `study train`'s fit reproduces the trial's epoch-1 record in MLflow
    result = fit(cfg, tmp_path / "run", callbacks=[lambda rec: "one epoch"])
    rec = result.records[0]
    assert rec.epoch == 1
    mine = {k: v for k, v in rec.metrics.items() if not k.startswith("time/") and k not in (R.STOP_EPOCH, R.STOP_STEP)}
    theirs = {}
    for key in cl.get_run(run_id).data.metrics:
        if not key.startswith("time/") and key not in (R.EPOCH, R.STEP):  # the record's index, not a measurement
            theirs.update({key: m.value for m in cl.get_metric_history(run_id, key) if m.step == 1})
    assert set(mine) == set(theirs)
    diff = {k: (mine[k], theirs[k]) for k in mine if float(mine[k]) != theirs[k]}
    assert not diff, f"epoch 1 differs from the trial's: {diff}"


# ---------------------------------------------------------------- selection rules on hand-built Optuna studies

def _spec(metrics, modes, seeds: int = 1) -> StudySpec:
    return StudySpec.model_validate({
        "run": {"data": {"name": "mnist"}, "model": {"name": "small_cnn"}, "seed": 7},
        "search": {"parameters": {"der.weight": {"distribution": "uniform", "low": 0, "high": 1}},
                   "metric": metrics, "mode": modes, "seeds": seeds},
    })


def _study(storage, directions, points, states=None):
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    study = optuna.create_study(study_name="s", storage=storage, directions=directions)
    for i, values in enumerate(points):
        state = (states or {}).get(i, TrialState.COMPLETE)
        study.add_trial(create_trial(
            params={"der.weight": i / 10}, distributions={"der.weight": FloatDistribution(0, 1)},
            values=values if state == TrialState.COMPLETE else None, state=state,
            user_attrs={"ray_trial_ids": [f"r{i}a", f"r{i}b"], "metrics": {R.PROBE_PGD_ACC: i / 10},
                        "stop_reasons": [None, None]}))
    return study


def test_two_objectives_export_the_pareto_set():
    points = [[0.2, 0.9], [0.5, 0.5], [0.4, 0.4], [0.9, 0.1], [0.1, 0.1]]
    study = _study(None, ["maximize", "maximize"], points)
    sel = select_trials(study, _spec([R.VAL_PGD_ACC, R.VAL_CLEAN_ACC], ["max", "max"]))
    assert sel.kind == "pareto"
    assert {t.number for t in sel.trials} == {t.number for t in study.best_trials} == {0, 1, 3}
    assert [t.number for t in sel.trials] == [3, 1, 0]  # by the first objective
    assert [t.number for t in select_trials(study, _spec([R.VAL_PGD_ACC, R.VAL_CLEAN_ACC], ["max", "max"]),
                                            top=2).trials] == [3, 1]
    by_clean = select_trials(study, _spec([R.VAL_PGD_ACC, R.VAL_CLEAN_ACC], ["max", "max"]), top=2,
                             metric=R.VAL_CLEAN_ACC)
    assert by_clean.kind == "top" and [t.number for t in by_clean.trials] == [0, 1]


def test_min_mode_and_default_top():
    study = _study(None, ["minimize"], [[v] for v in (0.5, 0.1, 0.3, 0.2, 0.9)])
    sel = select_trials(study, _spec(R.VAL_PGD_ACC, "min"))
    assert [t.number for t in sel.trials] == [1, 3, 2][:DEFAULT_TOP]


def test_no_complete_trial_is_a_clear_error():
    from optuna.trial import TrialState

    from study.errors import UserError

    study = _study(None, ["maximize"], [[0.1], [0.2]], states={0: TrialState.PRUNED, 1: TrialState.FAIL})
    with pytest.raises(UserError, match=r"no COMPLETE trials to export \(1 FAIL, 1 PRUNED\)"):
        select_trials(study, _spec(R.VAL_PGD_ACC, "max"))


def test_several_seeds_export_seed_index_0_and_say_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    _study(url, ["maximize"], [[0.3], [0.6]])
    spec = _spec(R.VAL_PGD_ACC, "max", seeds=3)
    handle = StudyHandle("s", spec, url, "s", None, None, "finished")
    res = export_study(handle, tmp_path / "exp", top=1)
    assert res.rows[0]["number"] == 1 and res.rows[0]["seed_index"] == 0
    assert any("3 seeds" in n and "seed index 0" in n for n in _summary(tmp_path / "exp")["notes"])
    cfg = load_run_config(str(tmp_path / "exp" / "trial_1.yaml"))
    assert cfg.seed == 7 and cfg.der.weight == 0.1
    assert cfg.model_dump() == fully_resolved(trial_config(spec, {"der.weight": 0.1}, 0), "s-trial1").model_dump()
    assert "seed index 0 of 3" in (tmp_path / "exp" / "trial_1.yaml").read_text()
    assert mlflow_runs(handle).by_trial == {} and "without MLflow tracking" in mlflow_runs(handle).note
