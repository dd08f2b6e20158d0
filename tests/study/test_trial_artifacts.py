"""Trace artifacts drawn off the driver's Tune loop: every finished run gets them, and what a killed driver
left pending is drawn when the study resumes. Real SQLite MLflow store, real matplotlib."""
from __future__ import annotations

import pickle

import pytest
from mlflow.tracking import MlflowClient

from study.tracking.artifacts import PENDING_TAG, ArtifactWriter, catch_up, pending_value
from trainables.schema import records as R


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cl = MlflowClient(tracking_uri=uri)
    exp = cl.create_experiment("s", artifact_location=(tmp_path / "art").as_uri())
    return uri, cl, exp


def trained_run(cl, exp, stop_epoch=None) -> str:
    """A finished child run with three epochs of trace metrics, its artifacts still pending."""
    rid = cl.create_run(exp).info.run_id
    for epoch in (1, 2, 3):
        for key in (R.TRAIN_DELTA_MEAN, R.VAL_PGD_ACC, R.energy_key("train", "delta_p5")):
            cl.log_metric(rid, key, 0.1 * epoch, step=epoch)
    cl.set_tag(rid, PENDING_TAG, pending_value(stop_epoch))
    cl.set_terminated(rid, "KILLED" if stop_epoch else "FINISHED")
    return rid


def artifacts(cl, rid) -> set[str]:
    return {a.path for a in cl.list_artifacts(rid)}


def test_the_writer_logs_every_submitted_run_before_drain_returns(store):
    uri, cl, exp = store
    runs = [trained_run(cl, exp), trained_run(cl, exp, stop_epoch=2)]
    writer = ArtifactWriter(uri)
    for rid in runs:
        writer.submit(rid, cl.get_run(rid).data.tags[PENDING_TAG])
    assert pickle.loads(pickle.dumps(writer)).uri == uri  # Tune pickles its callbacks mid-run
    writer.drain()
    for rid in runs:
        assert {"energy_trace.csv", "energy_trace.png"} <= artifacts(cl, rid)
        assert PENDING_TAG not in cl.get_run(rid).data.tags


def test_resume_draws_what_a_killed_driver_left_pending(store):
    uri, cl, exp = store
    pending, done = trained_run(cl, exp, stop_epoch=3), trained_run(cl, exp)
    cl.delete_tag(done, PENDING_TAG)
    assert catch_up(uri, exp) == 1
    assert {"energy_trace.csv", "energy_trace.png"} <= artifacts(cl, pending)
    assert not artifacts(cl, done)
    assert catch_up(uri, exp) == 0
