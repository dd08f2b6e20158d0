"""Ctrl-C and SIGTERM during a study, on real processes: a clean stop that says how to resume, and
`study resume` finishing the study without duplicate MLflow runs; resuming a finished study is a no-op."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from study.stores.catalog import Catalog
from testlib import tiny_spec

pytestmark = pytest.mark.slow
STUDY = str(Path(sys.executable).parent / "study")
EPOCHS = 8
RESUME = re.compile(r"^\s+(\S+ resume res --workspace \S+)\s+#", re.M)


def _result_lines(ws: Path) -> int:
    return sum(len([x for x in f.read_text().splitlines() if x.strip()])
               for f in (ws / "ray" / "res").glob("trial_*/result.json"))


def _wait(pred, proc: subprocess.Popen, what: str, timeout: float = 600) -> None:
    import time

    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return
        if proc.poll() is not None:
            pytest.fail(f"the study ended before {what}: {proc.stdout.read()[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _interrupt(args: list[str], ws: Path, sig: int, group: bool) -> str:
    """Start ``study ARGS``, signal it once one more epoch was reported, and return its whole output."""
    before = _result_lines(ws) if (ws / "ray" / "res").exists() else 0
    proc = subprocess.Popen([STUDY, *args], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: (ws / "ray" / "res").exists() and _result_lines(ws) >= before + 2, proc, "two more epochs")
        if group:
            os.killpg(proc.pid, sig)  # a terminal's Ctrl-C reaches the whole foreground group
        else:
            os.kill(proc.pid, sig)  # `kill PID`, a scheduler ending the job
        out, _ = proc.communicate(timeout=120)  # a guard against a hang, not a speed check
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out[-3000:]
    for bad in ("Traceback", "Exception ignored", "KeyboardInterrupt", "Tuner.restore"):
        assert bad not in out, f"{bad!r} on the console:\n{out[-3000:]}"
    assert Catalog.open(ws).get("res").status == "interrupted"
    return out


def _children(ws: Path):
    cl = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    runs = cl.search_runs([cl.get_experiment_by_name("res").experiment_id])
    return cl, [r for r in runs if "mlflow.parentRunId" in r.data.tags], len(runs)


def test_ctrl_c_and_sigterm_stop_cleanly_and_resume_finishes(mnist_env, tmp_path):
    spec = tiny_spec(mnist_env, tmp_path, name="res", epochs=EPOCHS, num_samples=4)
    ws = tmp_path / "ws"
    storage = f"sqlite:///{ws / 'optuna.db'}"

    out = _interrupt(["run", str(spec), "--workspace", str(ws)], ws, signal.SIGINT, group=True)
    assert "study res interrupted" in out
    (resume,) = RESUME.findall(out)  # says how to continue, as a pasteable command
    trials = optuna.load_study(study_name="res", storage=storage).trials
    assert any(t.state.name == "RUNNING" for t in trials) and not any(t.state.name == "FAIL" for t in trials)

    out = _interrupt(resume.split()[1:], ws, signal.SIGTERM, group=False)
    assert "study res interrupted" in out

    done = subprocess.run(resume.split(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "study res (finished)" in done.stdout and "Traceback" not in done.stdout + done.stderr
    trials = optuna.load_study(study_name="res", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4  # stopped twice, nothing lost or failed
    cl, children, runs = _children(ws)
    ids = [c.data.tags["trial_id"] for c in children]
    assert len(children) == 4 and len(set(ids)) == 4  # one MLflow run per trial, none duplicated
    assert sorted(c.info.run_name for c in children) == [f"trial-{i}" for i in range(4)]
    for c in children:
        steps = [m.step for m in cl.get_metric_history(c.info.run_id, "val/pgd_acc")]
        assert sorted(steps) == list(range(1, EPOCHS + 1)), (c.info.run_name, steps)
        assert c.info.status == "FINISHED"
    versions = cl.search_model_versions("name='res'")
    assert len(versions) == 1

    updated = Catalog.open(ws).get("res").updated_at
    again = subprocess.run(resume.split(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "already finished: nothing to resume, nothing changed" in again.stdout
    assert len(cl.search_model_versions("name='res'")) == 1  # no new model version
    assert _children(ws)[2] == runs and Catalog.open(ws).get("res").updated_at == updated
    assert json.loads(subprocess.run([STUDY, "status", "res", "--workspace", str(ws), "--json"], capture_output=True,
                                     text=True, timeout=120).stdout)["status"] == "finished"
