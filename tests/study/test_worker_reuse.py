"""A reused Ray worker starts every trial from a clean state.

Three trials with the same config and seed run one after another in one worker process (Ray Tune's
``reuse_actors``); each is stopped by the ΔE rule, so each next trial also unwinds a stopped one.
If anything of a trial survived into the next (seed, model weights, optimizer momentum, data order,
the MLflow run, the record history a checkpoint carries, the stop decision), the trials' records
would differ, or the runs and checkpoints would hold more than their own epochs.
"""
from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from study.run.engine import run_study
from study.run.options import resolve_options
from study.spec.spec import load_spec
from testlib import tiny_spec
from trainables.schema import records as R

pytestmark = pytest.mark.slow
EPOCHS = 4
STOP_AT_3 = {"delta_energy": {"enabled": True, "grace_epochs": 0, "window": 2, "threshold": 1e-6, "min_scale": 1e-9,
                              "rel_scale": 0.0}, "probe": {"enabled": False}}
SCIENCE = ("loss/", "train/", "val/", "probe/", "energy/", "best/", R.LR, R.EPOCH, R.STOP_REASON, R.STOP_EPOCH)


def _records(ws: Path, name: str) -> dict[str, list[dict]]:
    out = {}
    for f in (ws / "ray" / name).glob("trial_*/result.json"):
        out[f.parent.name.removeprefix("trial_")] = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return out


def _science(result: dict) -> dict:
    return {k: v for k, v in result.items() if k.startswith(SCIENCE)}


@pytest.fixture(scope="module")
def reused(mnist_env, local_ray, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reuse")
    spec = load_spec(tiny_spec(mnist_env, tmp, name="reuse", epochs=EPOCHS, stopping=STOP_AT_3, deterministic=True,
                               search={"parameters": {"der.weight": {"distribution": "choice", "values": [0.1]}},
                                       "max_concurrent": 1, "sampler": "random"}))
    opts = resolve_options(str(tmp / "ws"))
    run_study(spec, "reuse", opts)
    return tmp / "ws", opts


def test_the_trials_ran_one_after_another_in_one_worker(reused):
    ws, _ = reused
    recs = _records(ws, "reuse")
    assert len(recs) == 3
    assert len({r["pid"] for rows in recs.values() for r in rows}) == 1


def test_every_trial_trains_exactly_like_the_first(reused):
    ws, _ = reused
    runs = sorted(_records(ws, "reuse").values(), key=lambda rows: rows[0]["timestamp"])
    first = [_science(r) for r in runs[0]]
    assert [r[R.EPOCH] for r in first] == [1, 2, 3]
    assert first[-1][R.STOP_REASON] == "delta_energy" and first[-1][R.STOP_EPOCH] == 3
    for rows in runs[1:]:  # same seed, weights, momentum, batches and stop as the trial before it
        assert [_science(r) for r in rows] == first


def test_each_trial_has_its_own_mlflow_run_and_history(reused):
    ws, opts = reused
    cl = MlflowClient(tracking_uri=opts.mlflow_uri)
    exp = cl.get_experiment_by_name("reuse")
    children = [r for r in cl.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert sorted(c.data.tags["trial_id"] for c in children) == sorted(_records(ws, "reuse"))
    for c in children:
        for key in (R.VAL_PGD_ACC, R.LOSS_TOTAL, R.TRAIN_DELTA_MEAN):
            assert [m.step for m in cl.get_metric_history(c.info.run_id, key)] == [1, 2, 3], key
        assert c.data.tags[R.STOP_REASON] == "delta_energy" and c.info.status == "FINISHED"  # its result kept
        assert c.data.params["der.weight"] == "0.1"


def test_each_checkpoint_carries_only_its_own_trials_records(reused):
    ws, _ = reused
    for trial_dir in (ws / "ray" / "reuse").glob("trial_*"):
        last = max(trial_dir.glob("checkpoint_*"), key=lambda p: p.name)
        history = [json.loads(x) for x in (last / "records.jsonl").read_text().splitlines() if x.strip()]
        assert [h[R.EPOCH] for h in history] == [1, 2, 3]


def test_optuna_sees_three_stopped_trials_that_kept_their_result(reused):
    _, opts = reused
    trials = optuna.load_study(study_name="reuse", storage=opts.optuna_storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert all(t.user_attrs["stop_reasons"] == ["delta_energy"] for t in trials)
