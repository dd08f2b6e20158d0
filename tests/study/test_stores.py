"""Real stores: Optuna and MLflow on PostgreSQL with 8 concurrent trials, and an MLflow tracking server.

Every trial and metric must be recorded, and the password in a storage URL must appear nowhere:
not in the console, the catalog, MLflow params/tags, Ray's experiment files, or `study status`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from pgserver import PASSWORD, postgres_server
from testlib import tiny_spec
from study.tracking.server import free_port

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as urls:
        yield urls


def study(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "study"), *args], capture_output=True, text=True, timeout=timeout)


def assert_no_password_anywhere(ws: Path, *outputs: str) -> None:
    for text in outputs:
        assert PASSWORD not in text
    for f in ws.rglob("*"):
        if f.is_file() and f.stat().st_size < 50_000_000:
            assert PASSWORD.encode() not in f.read_bytes(), f"password found in {f}"


def children(cl: MlflowClient, name: str):
    exp = cl.get_experiment_by_name(name)
    runs = cl.search_runs([exp.experiment_id])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags], \
        [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def assert_every_metric_recorded(cl: MlflowClient, kids, epochs: int) -> None:
    for c in kids:
        for key in ("val/pgd_acc", "energy/train/delta_mean", "loss/total"):
            assert [m.step for m in cl.get_metric_history(c.info.run_id, key)] == list(range(1, epochs + 1))


def test_optuna_on_postgres_with_8_concurrent_trials(pg, mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="pg8", epochs=2, num_samples=8, search={"max_concurrent": 8})
    ws = tmp_path / "ws"
    run = study("run", str(spec), "--workspace", str(ws), "--optuna-storage", pg["optuna"], "--num-cpus", "8")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    trials = optuna.load_study(study_name="pg8", storage=pg["optuna"]).trials
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)
    assert all(sorted(t.intermediate_values) == [1, 2] for t in trials)  # every epoch's report reached Optuna
    cl = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    _, kids = children(cl, "pg8")
    assert len(kids) == 8
    assert_every_metric_recorded(cl, kids, 2)
    status = study("status", "pg8", "--workspace", str(ws), "--optuna-storage", pg["optuna"], "--json")
    listing = study("list", "--workspace", str(ws))
    assert status.returncode == 0 and '"COMPLETE"' in status.stdout
    assert "study:***@" in listing.stdout.replace("\n", "")
    parent_tags = children(cl, "pg8")[0][0].data.tags
    assert parent_tags["optuna.storage"].startswith("postgresql+psycopg://study:***@")
    assert_no_password_anywhere(ws, run.stdout, run.stderr, status.stdout, status.stderr, listing.stdout)
    # the masked URL in the catalog is not enough to reopen the study: a clear error asks for it
    again = study("status", "pg8", "--workspace", str(ws))
    assert again.returncode == 2 and "--optuna-storage" in again.stderr and PASSWORD not in again.stderr


def test_mlflow_backend_on_postgres_with_8_concurrent_trials(pg, mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="mlpg", epochs=2, num_samples=8, search={"max_concurrent": 8})
    ws = tmp_path / "ws"
    run = study("run", str(spec), "--workspace", str(ws), "--mlflow-uri", pg["mlflow"], "--num-cpus", "8")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    cl = MlflowClient(tracking_uri=pg["mlflow"])
    parents, kids = children(cl, "mlpg")
    assert len(parents) == 1 and len(kids) == 8
    assert_every_metric_recorded(cl, kids, 2)
    for c in kids:
        assert {"config.yaml", "energy_trace.csv", "energy_trace.png"} <= {a.path for a in cl.list_artifacts(c.info.run_id)}
        assert PASSWORD not in str(c.data.params) + str(c.data.tags)
    assert PASSWORD not in str(parents[0].data.params) + str(parents[0].data.tags)
    assert_no_password_anywhere(ws, run.stdout, run.stderr)


@pytest.fixture()
def mlflow_server(tmp_path):
    port = free_port()
    proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'srv.db'}",
                             "--artifacts-destination", (tmp_path / "srv-artifacts").as_uri(), "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not come up")
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def test_tracking_through_a_real_mlflow_server(mlflow_server, mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="srv", epochs=2, num_samples=2)
    ws = tmp_path / "ws"
    run = study("run", str(spec), "--workspace", str(ws), "--mlflow-uri", mlflow_server)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert not (ws / "mlflow.db").exists()  # everything went to the server
    cl = MlflowClient(tracking_uri=mlflow_server)
    parents, kids = children(cl, "srv")
    assert len(parents) == 1 and len(kids) == 2
    assert {k.data.tags["mlflow.parentRunId"] for k in kids} == {parents[0].info.run_id}
    assert_every_metric_recorded(cl, kids, 2)
    for c in kids:  # artifacts went through the server's proxy into its artifact store
        assert {"config.yaml", "energy_trace.csv", "energy_trace.png"} <= {a.path for a in cl.list_artifacts(c.info.run_id)}
    assert list((tmp_path / "srv-artifacts").rglob("energy_trace.csv"))


def test_pickled_optuna_storage_holds_no_password(pg):
    """Ray pickles the searcher into its experiment state: the storage inside must not carry the password."""
    import pickle

    from study.search import storage
    from study.errors import UserError

    st = storage.open_storage(pg["optuna"])
    blob = pickle.dumps(st)
    assert PASSWORD.encode() not in blob
    assert pickle.loads(blob).url == pg["optuna"]  # this process knows the real URL (as `study resume` does)
    storage._REAL_URLS.clear()
    with pytest.raises(UserError, match="--optuna-storage"):
        pickle.loads(blob)
