"""A researcher's first hour, on real processes: `make quickstart` twice, then every command it prints,
pasted into a fresh shell (no STUDY_DATA_DIR, no venv on the PATH), including the MLflow UI checked in
a real headless Chromium, the report's MLflow links, export and train."""
from __future__ import annotations

import html
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from browser import chromium, screenshot, wait_for_text
from firsthour import REPO, fresh_env, make_quickstart, shell, steps, tree, verb
from testlib import tiny_spec

pytestmark = pytest.mark.slow
UI_READY = re.compile(r"MLflow UI ready: (http://\S+)")


def _ledger(ws: Path, name: str) -> tuple[int, int]:
    """(MLflow runs of the study, registered versions of its model)."""
    cl = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    runs = cl.search_runs([cl.get_experiment_by_name(name).experiment_id])
    return len(runs), len(cl.search_model_versions(f"name='{name}'"))


def _clean_console(proc) -> None:
    both = proc.stdout + proc.stderr
    for bad in ("Traceback", "Warning:", "WARNING", "Successfully registered"):
        assert bad not in both, f"{bad!r} reached the console:\n{both[-3000:]}"


def test_make_quickstart_twice(shared_data, _isolated_cache, tmp_path):
    """The real quickstart spec (--smoke size): a second `make quickstart` shows it and changes nothing."""
    ws = tmp_path / "ws"
    env = {**os.environ, "STUDY_DATA_DIR": str(shared_data)}
    first = make_quickstart(env, ws, "qs", args="--smoke")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "runs it, or continues it" in first.stdout  # make says what it does
    _clean_console(first)
    trials = len(optuna.load_study(study_name="qs", storage=f"sqlite:///{ws / 'optuna.db'}").trials)
    ledger = _ledger(ws, "qs")
    second = make_quickstart(env, ws, "qs", args="--smoke")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "it finished: showing it, nothing changes" in second.stdout
    assert "study qs (finished)" in second.stdout and "next steps:" in second.stdout
    _clean_console(second)
    assert len(optuna.load_study(study_name="qs", storage=f"sqlite:///{ws / 'optuna.db'}").trials) == trials
    assert _ledger(ws, "qs") == ledger  # no new runs, no new model version


class _Lines:
    """Collects a process's output lines in a thread, so the test can wait for one without blocking."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        self.thread.start()

    def wait_for(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := pattern.search(line):
                    return m
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern.pattern!r}:\n{''.join(self.lines)[-3000:]}")


def _port_open(url: str) -> bool:
    host, port = url.split("//")[1].split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port.rstrip("/")))) == 0


def _check_trials_page(browser, url: str, trials: int, tmp_path: Path, shot: str) -> str:
    browser.get(url)
    text = wait_for_text(browser, lambda t: all(f"trial-{i}" in t for i in range(trials)) and "best/val_robust_acc" in t)
    screenshot(browser, tmp_path, shot)
    assert "No data available" not in text  # not MLflow 3's GenAI overview
    assert "Sort: best/val_robust_acc" in text  # the trials listed flat, best first
    return text


def test_printed_next_steps_work_in_a_fresh_shell(shared_data, _isolated_cache, tmp_path):
    answer = {"top": 1, "images": 100, "pgd": [[10, 2]], "autoattack": "apgd", "at_end": "full"}  # issue 32
    spec = tiny_spec(shared_data, tmp_path, name="fh", epochs=2, num_samples=3,  # stopping off: all COMPLETE
                     evaluation={"answer": answer})
    ws = tmp_path / "ws"
    data_before = tree(shared_data / "MNIST")
    run = make_quickstart({**os.environ, "STUDY_DATA_DIR": str(shared_data)}, ws, "fh", spec)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _clean_console(run)
    assert re.search(r"^trial-0  epoch 1/2  best/val_robust_acc [\d.]+%", run.stdout, re.M)  # one trial name, units
    cmds = steps(run.stdout, "next steps")
    assert [verb(c) for c in cmds] == ["status", "report", "ui", "export", "evaluate", "compare"]
    assert "the study's answer: test reading on 100 images" in run.stdout

    fresh = fresh_env(_isolated_cache)
    done = {}
    for cmd in cmds:
        if verb(cmd) != "ui":
            done[verb(cmd)] = r = shell(cmd, fresh)
            assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
    assert "study fh (finished)" in done["status"].stdout
    assert "read 2 configuration(s)" in done["evaluate"].stdout  # the best one was read at the end already
    assert "curves on shared axes:" in done["compare"].stdout and "MLflow compare" in done["compare"].stdout
    (train,) = steps(done["export"].stdout, "train one with")
    trained = shell(train, fresh)
    assert trained.returncode == 0, (train, trained.stdout[-3000:], trained.stderr[-3000:])
    assert "epoch   2/2" in trained.stdout and "records:" in trained.stdout
    exported = yaml.safe_load(next((ws / "exports" / "fh").glob("trial_*.yaml")).read_text())
    assert exported["data"]["root"] == str(shared_data.absolute())  # the workspace remembered it
    assert tree(shared_data / "MNIST") == data_before  # the user's data folder was never written

    page = html.unescape((ws / "reports" / "fh.html").read_text())
    experiment_link = re.search(r'<a class="mlflow-experiment" href="([^"]+)"', page).group(1)
    run_link = re.search(r'href="(http://[^"]+/runs/[0-9a-f]+\?[^"]*)"', page).group(1)
    (ui_cmd,) = [c for c in cmds if verb(c) == "ui"]
    ui = subprocess.Popen(["bash", "-c", ui_cmd], cwd=REPO, env=fresh, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = _Lines(ui)
    try:
        base = lines.wait_for(UI_READY, 240).group(1)
        study_link = lines.wait_for(re.compile(r"^  fh: (http://\S+)"), 30).group(1)
        with chromium() as browser:
            _check_trials_page(browser, study_link, 3, tmp_path, "ui-study-link")
            # the report was made for the default UI address; the UI may have moved to a free port
            _check_trials_page(browser, experiment_link.replace("http://127.0.0.1:5000", base), 3, tmp_path,
                               "report-experiment-link")
            browser.get(run_link.replace("http://127.0.0.1:5000", base))
            text = wait_for_text(browser, lambda t: re.search(r"trial-\d", t) is not None and "Metrics" in t)
            screenshot(browser, tmp_path, "report-run-link")
            assert "Evaluations" not in text  # the run page of the model-training view
    finally:
        os.killpg(ui.pid, signal.SIGINT)  # Ctrl-C in its terminal
        ui.wait(60)
    lines.thread.join(5)
    assert ui.returncode == 0, "".join(lines.lines)[-3000:]
    assert "Traceback" not in "".join(lines.lines)
    assert not _port_open(base)  # the server went with it
