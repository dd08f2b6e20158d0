"""Fault matrix, signals (issue 31): SIGTERM while the trials are in their final test evaluation, and SIGTERM to
every process of a study at once, on a real local Ray with SQLite Optuna and MLflow.

What the user must see: exit code 130, the `study resume` command, no raw traceback and no Ray line (the bug
was 60 s of silence, then "Failed to connect to GCS within 60 seconds", or a study recorded as finished with
its trials marked failed). What must be kept: `study resume` finishes every planned trial, each with one
MLflow run holding every epoch and its test reading once, whole checkpoints (faultlib.assert_kept).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest

from faultlib import (assert_clean, assert_kept, continue_command, descendants, finish, kill_tree, results, run,
                      signal_all, start, wait_for)
from study.stores.catalog import Catalog
from testlib import tiny_spec

pytestmark = pytest.mark.slow
EPOCHS = 2
# a final evaluation much longer than an epoch (PGD-50 on 6,000 test images, best and last weights: about a
# minute of a busy core, against ~1 s per epoch), so that a signal sent a few seconds into it lands in it
FINAL_EVAL = dict(data__test_subset=6000, eval__test_pgd=[[50, 1]])
TEST_METRIC = "test/best/pgd50x1_acc"


def _training_workers(pid: int) -> int:
    """Ray workers below ``pid`` running a trial (Ray titles them ray::ImplicitFunc.train)."""
    n = 0
    for p in descendants(pid):
        try:
            if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"ray::ImplicitFunc.train"):
                n += 1
        except OSError:
            pass
    return n


def _stopped(proc, ws: Path, name: str, sent: float) -> str:
    out = finish(proc, timeout=300)
    assert proc.returncode == 130, out[-4000:]
    assert time.time() - sent < 60, f"the stop took {time.time() - sent:.0f} s"
    assert_clean(out)
    assert Catalog.open(ws).get(name).status == "interrupted"
    trials = optuna.load_study(study_name=name, storage=f"sqlite:///{ws / 'optuna.db'}").trials
    assert not [t.number for t in trials if t.state.name in ("FAIL", "COMPLETE")], "the stop ended a trial"
    return out


def test_sigterm_in_the_final_evaluation_is_a_clean_stop_and_resume_finishes(mnist_env, tmp_path):
    """First `kill PID` (the driver only), then, resumed, `timeout`'s SIGTERM to the whole process group: both
    while every trial is in its final test evaluation."""
    name, ws = "fe", tmp_path / "ws"
    spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=EPOCHS, num_samples=2, **FINAL_EVAL)
    proc = start(["run", str(spec), "--workspace", str(ws)])
    try:
        wait_for(lambda: len(results(ws, name)) == 2 and all(len(r) == 1 for r in results(ws, name).values()),
                 proc, "both trials' first epoch")
        epoch_s = max(r[0]["time/epoch_s"] for r in results(ws, name).values())
        time.sleep(5 + 3 * epoch_s)  # epoch 2 trained: the test evaluation runs
        assert all(len(r) == 1 for r in results(ws, name).values()), "a trial finished before the signal"
        os.kill(proc.pid, signal.SIGTERM)
        out = _stopped(proc, ws, name, time.time())
    finally:
        kill_tree(proc.pid)
    assert "interrupted" in out
    resume = continue_command(out)

    proc = start(resume)
    try:
        wait_for(lambda: _training_workers(proc.pid) >= 2, proc, "both trials restored", timeout=300)
        time.sleep(10 + 3 * epoch_s)  # restored at epoch 1, epoch 2 trained again: the test evaluation runs
        assert all(len(r) == 1 for r in results(ws, name).values()), "a trial finished before the signal"
        os.killpg(proc.pid, signal.SIGTERM)  # what `timeout` sends: the whole process group
        _stopped(proc, ws, name, time.time())
    finally:
        kill_tree(proc.pid)

    done = run(resume)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_clean(done.stdout + done.stderr)
    assert_kept(ws, name, trials=2, epochs=EPOCHS, test_metric=TEST_METRIC)


def test_sigterm_to_every_process_of_the_study_is_a_clean_stop(mnist_env, tmp_path):
    """A cluster scheduler ends every process of a job: Ray's GCS, raylet and workers get the SIGTERM too, so the
    clean stop has no Ray left to talk to. The driver must still end within seconds with the resume line (not
    Ray's 'Failed to connect to GCS' after a minute), and the study must resume: the trials whose workers died
    are retried from their checkpoints (resources.max_failures: 1, the default)."""
    name, ws, epochs = "all", tmp_path / "ws", 6
    spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=epochs, num_samples=2,
                     resources={"cpu": 1, "max_failures": 1})
    proc = start(["run", str(spec), "--workspace", str(ws)])
    try:
        wait_for(lambda: any(2 <= len(r) < epochs for r in results(ws, name).values()), proc, "a trial mid-way")
        sent = time.time()
        assert signal_all(proc.pid, signal.SIGTERM) >= 4  # the driver, Ray's GCS and raylet, the workers
        out = finish(proc, timeout=300)
    finally:
        kill_tree(proc.pid)
    assert proc.returncode == 130, out[-4000:]
    assert time.time() - sent < 45, f"the stop took {time.time() - sent:.0f} s"
    assert_clean(out)
    assert Catalog.open(ws).get(name).status == "interrupted"
    done = run(continue_command(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_clean(done.stdout + done.stderr)
    assert_kept(ws, name, trials=2, epochs=epochs)
