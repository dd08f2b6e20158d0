"""Faults on real processes: a SIGKILLed driver resumed by `study resume`, and a SIGKILLed trial worker."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from testlib import tiny_spec

pytestmark = pytest.mark.slow
STUDY = str(Path(sys.executable).parent / "study")


def _results(ws: Path, name: str) -> dict[Path, list[dict]]:
    out = {}
    for f in (ws / "ray" / name).glob("trial_*/result.json"):
        out[f.parent] = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return out


def _wait_for(pred, timeout: float, what: str, proc=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the study ended before {what}: {proc.stdout.read()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _children(ws: Path, name: str):
    cl = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.get_experiment_by_name(name)
    runs = cl.search_runs([exp.experiment_id])
    return cl, [r for r in runs if "mlflow.parentRunId" not in r.data.tags], \
        [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def _assert_continuous_histories(cl, children, epochs: int):
    ids = [c.data.tags["trial_id"] for c in children]
    assert len(ids) == len(set(ids)), "duplicate child runs for one trial"
    for c in children:
        steps = [m.step for m in cl.get_metric_history(c.info.run_id, "val/pgd_acc")]
        assert sorted(steps) == list(range(1, epochs + 1)), (c.data.tags["trial_id"], steps)


def test_killed_driver_resumes_without_losing_or_duplicating(mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="res", epochs=6, num_samples=4)
    ws = tmp_path / "ws"
    driver = subprocess.Popen([STUDY, "run", str(spec), "--workspace", str(ws)], start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # kill once a trial is mid-way: at least 2 epochs reported, and fewer than all
        _wait_for(lambda: any(2 <= len(r) < 6 for r in _results(ws, "res").values()), 400, "a trial mid-way", driver)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        try:  # the local Ray of the dead driver (its process group) dies with it, as on a crashed machine
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    storage = f"sqlite:///{ws / 'optuna.db'}"
    before = optuna.load_study(study_name="res", storage=storage).trials
    assert any(t.state.name == "RUNNING" for t in before)  # the kill left work in flight

    resumed = subprocess.run([STUDY, "resume", "res", "--workspace", str(ws)], capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = optuna.load_study(study_name="res", storage=storage).trials
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4  # the planned number of trials
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in trials)
    after = {t.number: t for t in trials}
    for t in before:  # the searcher kept its history: each trial from before the kill is still there, same params
        assert after[t.number].params == t.params
    cl, parents, children = _children(ws, "res")
    assert len(parents) == 1  # the resumed study reused its parent run
    assert len(children) == 4
    _assert_continuous_histories(cl, children, epochs=6)


def test_killed_trial_worker_restarts_from_its_checkpoint(mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="wk", epochs=6, num_samples=1,
                     resources={"cpu": 1, "max_failures": 2})
    ws = tmp_path / "ws"
    driver = subprocess.Popen([STUDY, "run", str(spec), "--workspace", str(ws)], start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        res = _wait_for(lambda: [r for r in _results(ws, "wk").values() if 2 <= len(r) < 6], 400, "epoch 2", driver)
        victim = res[0][-1]["pid"]
        os.kill(victim, signal.SIGKILL)
        out, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, out[-3000:]
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    trials = optuna.load_study(study_name="wk", storage=f"sqlite:///{ws / 'optuna.db'}").trials
    assert [t.state.name for t in trials] == ["COMPLETE"]
    records = list(_results(ws, "wk").values())[0]
    assert len({r["pid"] for r in records}) == 2  # a second worker process finished the trial
    cl, _, children = _children(ws, "wk")
    assert len(children) == 1
    _assert_continuous_histories(cl, children, epochs=6)
