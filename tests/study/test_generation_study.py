"""A generation study end to end: generation knobs searched on one fixed classifier, FID as the objective.

Real local Ray, SQLite Optuna and MLflow, a classifier trained for one epoch on MNIST, and a tiny
torch-fidelity feature extractor (``gen_helpers:TinyFE``, imported by path in the Ray workers).
"""
from __future__ import annotations

import json
import math
import sys

import optuna
import pytest
import yaml

from study.cli.main import main
from study.run.engine import run_study
from study.results.export import export_study
from study.run.options import resolve_options
from study.results.reading import open_study
from study.spec.spec import load_spec
from testlib import WORKER_PATHS, tiny_run
from trainables.schema import records as R
from trainables.schema.config import RunConfig
from trainables.training.fit import fit
from trainables.generation import GenerationConfig

FE = "gen_helpers:TinyFE"
sys.path.extend(p for p in WORKER_PATHS if p not in sys.path)  # the driver imports it too (preflight)


def _spec(tmp, checkpoint, name="gen") -> str:
    spec = {
        "name": name, "kind": "generate",
        "generation": {"checkpoint": str(checkpoint), "config": {
            "n": 30, "batch_size": 16, "threads": 1, "sampler": {"steps": 3},
            "metrics": {"feature_extractor": FE, "kid": False, "isc": False, "reference_n": 100},
            "grid": {"per_class": 3, "nrow": 3}}},
        "search": {"parameters": {"init.sigma": {"distribution": "loguniform", "low": 0.001, "high": 0.05},
                                  "sampler.steps": {"distribution": "int", "low": 0, "high": 4}},
                   "num_samples": 3, "max_concurrent": 2, "metric": R.GEN_FID, "mode": "min"},
        "resources": {"cpu": 1, "max_failures": 0},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.fixture(scope="module")
def gen_study(mnist_env, local_ray, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("genstudy")
    run = tiny_run(mnist_env, epochs=1)
    run["data"].pop("root")
    fit(RunConfig.model_validate(run), tmp / "clf")
    ws = tmp / "ws"
    opts = resolve_options(str(ws))
    run_study(load_spec(_spec(tmp, tmp / "clf" / "checkpoint")), "gen", opts)
    return ws, opts, tmp


@pytest.mark.slow
def test_every_trial_reports_a_finite_fid_as_its_objective(gen_study):
    _, opts, _ = gen_study
    trials = optuna.load_study(study_name="gen", storage=opts.optuna_storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for t in trials:
        assert set(t.params) == {"init.sigma", "sampler.steps"}
        assert math.isfinite(t.value) and t.value == t.user_attrs["metrics"][R.GEN_FID]
    assert len({t.value for t in trials}) > 1  # the knobs change the samples


@pytest.mark.slow
def test_trial_runs_carry_gen_metrics_and_grids_but_no_model(gen_study):
    from mlflow.tracking import MlflowClient

    _, opts, _ = gen_study
    cl = MlflowClient(tracking_uri=opts.mlflow_uri)
    exp = cl.get_experiment_by_name("gen")
    children = [r for r in cl.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 3
    for c in children:
        assert c.info.status == "FINISHED" and R.GEN_FID in c.data.metrics
        assert c.data.params["init.sigma"] and c.data.params["metrics.feature_extractor"] == FE
        names = {a.path for a in cl.list_artifacts(c.info.run_id, "generation")}
        assert {"generation/grid_all.png", "generation/metrics.json"} <= names
    assert not cl.search_model_versions("name='gen'")  # a generation study trains nothing to register


@pytest.mark.slow
def test_export_writes_the_trials_generation_config(gen_study, capsys):
    ws, opts, tmp = gen_study
    res = export_study(open_study(ws, "gen"), tmp / "export", top=1)
    best = res.selection.trials[0]
    text = (tmp / "export" / res.rows[0]["config"]).read_text()
    assert "study generate --checkpoint" in text
    cfg = GenerationConfig.model_validate(yaml.safe_load(text))
    assert cfg.init.sigma == best.params["init.sigma"] and cfg.sampler.steps == best.params["sampler.steps"]
    assert cfg.metrics.feature_extractor == FE
    assert main(["status", "gen", "--workspace", str(ws), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["trials"]
    assert all(R.GEN_FID in r["metrics"] for r in rows)


def test_a_bad_checkpoint_is_refused_before_anything_is_recorded(tmp_path, capsys):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    ws = tmp_path / "ws"
    rc = main(["run", _spec(tmp_path, tmp_path / "junk.pt", "bad"), "--workspace", str(ws)])
    assert rc == 2
    assert "junk.pt" in capsys.readouterr().err
    assert not (ws / "catalog.db").exists()


def test_a_generation_spec_needs_its_block_and_a_gen_metric(tmp_path):
    from study.errors import UserError

    bad = tmp_path / "b.yaml"
    bad.write_text(yaml.safe_dump({"name": "b", "kind": "generate"}))
    with pytest.raises(UserError, match="generation block"):
        load_spec(bad)
    bad.write_text(yaml.safe_dump({"name": "b", "kind": "generate", "generation": {"checkpoint": "x"},
                                   "search": {"metric": R.VAL_PGD_ACC}}))
    with pytest.raises(UserError, match="gen/fid"):
        load_spec(bad)


def test_missing_inception_weights_offline_are_refused_before_anything_is_recorded(mnist_env, tmp_path, monkeypatch,
                                                                                   capsys):
    run = tiny_run(mnist_env, epochs=1, data__train_subset=128, data__val_size=0)
    fit(RunConfig.model_validate(run), tmp_path / "clf")
    spec = yaml.safe_load(open(_spec(tmp_path, tmp_path / "clf" / "checkpoint", "nw")))
    spec["generation"]["config"]["metrics"]["feature_extractor"] = "inception-v3-compat"  # the standard weights
    (tmp_path / "nw.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("STUDY_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    ws = tmp_path / "ws"
    assert main(["run", str(tmp_path / "nw.yaml"), "--workspace", str(ws)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "weights" in err and "metrics.weights_path" in err
    assert not ws.exists()
