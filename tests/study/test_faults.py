"""Fault matrix, kills (issue 31 and before): a SIGKILLed driver resumed by `study resume`, a SIGKILLed trial worker,
and a checkpoint torn in the study's storage; on real processes, a real local Ray, SQLite Optuna and MLflow.

The other faults of the matrix: signals (test_faults_signals.py), a busy machine (test_faults_load.py), the
disk (test_faults_disk.py), the stores (test_faults_stores.py); tests/trainables/training/test_checkpoint_writes.py
kills a checkpoint writer mid-write. The matrix and its cases: test_fault_matrix.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import optuna
import pytest

from faultlib import (STUDY, assert_clean, assert_kept, continue_command, finish, kill_tree, mlflow_runs, results,
                      run, start, wait_for)
from testlib import tiny_spec

pytestmark = pytest.mark.slow


def _assert_continuous_histories(cl, children, epochs: int):
    ids = [c.data.tags["trial_id"] for c in children]
    assert len(ids) == len(set(ids)), "duplicate child runs for one trial"
    for c in children:
        steps = [m.step for m in cl.get_metric_history(c.info.run_id, "val/pgd_acc")]
        assert sorted(steps) == list(range(1, epochs + 1)), (c.data.tags["trial_id"], steps)


def test_killed_driver_resumes_without_losing_or_duplicating(mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="res", epochs=6, num_samples=4)
    ws = tmp_path / "ws"
    driver = start(["run", str(spec), "--workspace", str(ws)])
    try:
        # kill once a trial is mid-way: at least 2 epochs reported, and fewer than all
        wait_for(lambda: any(2 <= len(r) < 6 for r in results(ws, "res").values()), driver, "a trial mid-way", 400)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        kill_tree(driver.pid)  # the local Ray of the dead driver dies with it, as on a crashed machine
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
    cl, parents, children = mlflow_runs(f"sqlite:///{ws / 'mlflow.db'}", "res")
    assert len(parents) == 1  # the resumed study reused its parent run
    assert len(children) == 4
    _assert_continuous_histories(cl, children, epochs=6)


def test_killed_trial_worker_restarts_from_its_checkpoint(mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="wk", epochs=6, num_samples=1,
                     resources={"cpu": 1, "max_failures": 2})
    ws = tmp_path / "ws"
    driver = start(["run", str(spec), "--workspace", str(ws)])
    try:
        res = wait_for(lambda: [r for r in results(ws, "wk").values() if 2 <= len(r) < 6], driver, "epoch 2", 400)
        victim = res[0][-1]["pid"]
        os.kill(victim, signal.SIGKILL)
        out = finish(driver, timeout=600)
        assert driver.returncode == 0, out[-3000:]
    finally:
        kill_tree(driver.pid)
    trials = optuna.load_study(study_name="wk", storage=f"sqlite:///{ws / 'optuna.db'}").trials
    assert [t.state.name for t in trials] == ["COMPLETE"]
    records = list(results(ws, "wk").values())[0]
    assert len({r["pid"] for r in records}) == 2  # a second worker process finished the trial
    cl, _, children = mlflow_runs(f"sqlite:///{ws / 'mlflow.db'}", "wk")
    assert len(children) == 1
    _assert_continuous_histories(cl, children, epochs=6)


def _restored_from(experiment: Path) -> dict[str, str]:
    """Trial id -> the checkpoint folder Ray Tune's saved state will hand the trial on `study resume` (the newest
    one its state names: a checkpoint still in flight at the stop is on disk but not in the state)."""
    from ray import cloudpickle

    state = max(experiment.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    out = {}
    for trial_json, runtime in json.loads(state.read_text())["trial_data"]:
        # the checkpoint manager's latest result, not the newest name anywhere in the state: the last result's
        # checkpoint_dir_name can name a checkpoint still in flight, which Ray Tune will not resume from
        manager = json.loads(runtime)["checkpoint_manager"]
        latest = cloudpickle.loads(bytes.fromhex(manager["value"])).latest_checkpoint_result
        if latest is not None:
            out[json.loads(trial_json)["trial_id"]] = Path(latest.checkpoint.path).name
    return out


def test_a_torn_checkpoint_is_skipped_for_the_one_before_on_resume(mnist_env, tmp_path):
    """The newest checkpoint of every trial in flight is torn in the storage after a stop (its state.pt cut to half,
    as a kill during Ray's copy leaves it on storage without atomic renames: network file systems, buckets; the
    platform's own writes are atomic, see test_checkpoint_writes.py). On `study resume` each trial continues from
    the checkpoint before (Ray Tune keeps two) and says so on the console and in its MLflow run, and the study
    finishes with nothing lost or twice."""
    name, ws, epochs = "torn", tmp_path / "ws", 12
    spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=epochs, num_samples=2)
    proc = start(["run", str(spec), "--workspace", str(ws)])
    try:
        wait_for(lambda: len(results(ws, name)) == 2 and all(3 <= len(r) < epochs for r in results(ws, name).values()),
                 proc, "both trials past epoch 3")
        os.killpg(proc.pid, signal.SIGINT)  # a clean stop: Ray Tune's state names each trial's newest checkpoint
        out = finish(proc, timeout=300)
    finally:
        kill_tree(proc.pid)
    assert proc.returncode == 130, out[-3000:]
    torn = []
    for trial_id, folder in _restored_from(ws / "ray" / name).items():
        assert len(list((ws / "ray" / name / f"trial_{trial_id}").glob("checkpoint_*"))) >= 2  # num_to_keep=2
        state = ws / "ray" / name / f"trial_{trial_id}" / folder / "state.pt"
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
        torn.append(folder)
    assert len(torn) == 2

    done = run(continue_command(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    flat = " ".join(done.stdout.split())
    assert_clean(done.stdout + done.stderr)
    for folder in torn:
        assert f"{folder} is torn: state.pt has" in flat, flat[:3000]  # its manifest's size, before any load
    assert flat.count("skipped 1 torn checkpoint(s) and resumed from") == 2, flat[-6000:]
    assert flat.count("warning: trial-") == 2, flat[-6000:]
    assert_kept(ws, name, trials=2, epochs=epochs)
    cl, _, children = mlflow_runs(f"sqlite:///{ws / 'mlflow.db'}", name)
    for c in children:
        assert "torn checkpoint" in c.data.tags.get("warning/checkpoint", ""), c.data.tags
