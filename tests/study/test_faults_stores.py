"""Fault matrix, the stores (issue 31): a real MLflow tracking server that goes away mid-study and comes back,
and the Optuna SQLite file locked by another process for longer than the driver waits; on a real local Ray.

What the user must see: a study that outlives a short outage simply finishes (exit code 0); a fault that
lasts longer than the retries stops it with exit code 1, one paragraph naming the server or the database
file and the fix, and the `study resume` line, no raw traceback. What must be kept: `study resume` then
finishes every planned trial once, with one MLflow run per trial holding every epoch once, and whole
checkpoints (faultlib.assert_kept).
"""
from __future__ import annotations

import time

import optuna
import pytest

from faultlib import (MlflowServer, assert_clean, assert_kept, assert_resumes, assert_stopped_with, epochs_reported,
                      finish, kill_tree, paragraph, run, sqlite_locked, start, wait_for)
from testlib import tiny_spec

pytestmark = pytest.mark.slow
EPOCHS, TRIALS = 4, 3


@pytest.fixture()
def server(tmp_path):
    srv = MlflowServer(tmp_path).start()
    yield srv
    srv.stop()


def test_an_mlflow_server_gone_for_a_while_and_back_loses_nothing(server, mnist_env, tmp_path):
    """Down for 20 s while trials log: the workers' and the driver's MLflow calls retry (MLflow's own backoff)
    and the study finishes as if nothing happened."""
    name, ws = "away", tmp_path / "ws"
    spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=EPOCHS, num_samples=TRIALS)
    proc = start(["run", str(spec), "--workspace", str(ws), "--mlflow-uri", server.url])
    try:
        wait_for(lambda: epochs_reported(ws, name) >= 1, proc, "the first epoch")
        server.stop()
        time.sleep(20)
        server.start()
        out = finish(proc, timeout=900)
    finally:
        kill_tree(proc.pid)
    assert proc.returncode == 0, out[-4000:]
    assert_clean(out)
    assert_kept(ws, name, trials=TRIALS, epochs=EPOCHS, mlflow_uri=server.url)


def test_an_mlflow_server_gone_past_its_retries_stops_the_study_and_resume_finishes(server, mnist_env, tmp_path):
    """Down longer than MLflow's retries (made short here: 1 retry, 1 s backoff): the trial that meets it is held,
    the study stops with the server's paragraph; with the server back, `study resume` finishes it."""
    name, ws = "gone", tmp_path / "ws"
    spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=EPOCHS, num_samples=TRIALS)
    short = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    proc = start(["run", str(spec), "--workspace", str(ws), "--mlflow-uri", server.url], env=short)
    try:
        wait_for(lambda: epochs_reported(ws, name) >= 1, proc, "the first epoch")
        server.stop()
        out = finish(proc, timeout=600)
    finally:
        kill_tree(proc.pid)
    assert_stopped_with(proc, out, (f"server at {server.url} does not answer", "start it again"))
    trials = optuna.load_study(study_name=name, storage=f"sqlite:///{ws / 'optuna.db'}").trials
    assert not [t.number for t in trials if t.state.name == "FAIL"], "a trial was lost to the outage"
    server.start()
    assert_resumes(out, ws, name, trials=TRIALS, epochs=EPOCHS, mlflow_uri=server.url)


def test_optuna_sqlite_locked_past_its_timeout_stops_the_study_and_resume_finishes(mnist_env, tmp_path):
    """Another process holds an exclusive lock on optuna.db for 40 s; the driver waits STUDY_SQLITE_TIMEOUT (2 s
    here, 30 s by default) and stops with the file's paragraph. A new study in that workspace, started while
    the lock is held, is refused the same way with nothing recorded. Released, `study resume` finishes."""
    name, ws = "locked", tmp_path / "ws"
    spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=EPOCHS, num_samples=TRIALS)
    short = {"STUDY_SQLITE_TIMEOUT": "2"}
    proc = start(["run", str(spec), "--workspace", str(ws)], env=short)
    try:
        wait_for(lambda: epochs_reported(ws, name) >= 1, proc, "the first epoch")
        with sqlite_locked(ws / "optuna.db", 40):
            out = finish(proc, timeout=600)
            other = tiny_spec(mnist_env, tmp_path, name="second", epochs=1, num_samples=1)
            refused = run(["run", str(other), "--workspace", str(ws)], env=short)
    finally:
        kill_tree(proc.pid)
    assert_stopped_with(proc, out, (f"{ws / 'optuna.db'} is locked by another process for longer than this "
                                    f"command waits (2 s)", "STUDY_SQLITE_TIMEOUT=120"))
    assert refused.returncode == 1, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert_clean(refused.stdout + refused.stderr)
    said = paragraph(refused.stdout + refused.stderr)
    assert "is locked by another process" in said and "Nothing of the study was recorded" in said, said
    assert_resumes(out, ws, name, trials=TRIALS, epochs=EPOCHS)
