"""Soak: hundreds of tiny trials through the whole platform while its surroundings fail, then an audit that Optuna,
MLflow and the checkpoints agree (issue 31).

One real study (`study run`, a local Ray, SQLite Optuna in the workspace, a real MLflow tracking server on
127.0.0.1 with a SQLite backend and proxied artifacts): ``--trials`` tiny MNIST trials (256 training images,
``small_cnn`` width 4, ``--epochs`` epochs, a small test reading), ``--concurrent`` at a time on a local Ray
given that many logical CPUs, each trial allowed ``--max-failures`` retries. While it runs, this script

* SIGKILLs the worker process of a trial that is between its first and its last epoch every ``--kill-every``
  finished trials (Ray retries the trial from its last checkpoint in a new worker);
* stops the MLflow server once, when ``--restart-at`` trials have finished, and starts it again on the same
  port after ``--down-s`` seconds (workers and driver retry their calls meanwhile).

Then it audits: every planned trial is in Optuna and finished, none RUNNING; a trial lost (FAIL) is listed with
the failures Ray recorded for it; every Ray trial that reported has exactly one MLflow child run (no duplicates,
none missing), FINISHED, named after its Optuna trial, whose ``val/pgd_acc`` history has each epoch exactly once (a killed and retried trial must not log
an epoch twice or skip one) and, for a trial that ran to its end, one test reading; every trial's checkpoint
folders are whole (``trainables.training.resume.check``: manifest sizes, every file's checksums). It prints a table and
writes ``<out>/soak.json``; exit code 1 when the audit finds a disagreement or a lost trial.

    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/soak.py                 # 200 trials, 4 at a time
    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/soak.py --trials 12 --kill-every 4   # a quick look
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from study.tracking.server import MlflowServer  # noqa: E402  (the repository on the path first)
BIN = Path(sys.executable).parent
NAME = "soak"


def spec(args) -> dict:
    """The soak study: tiny trials, two searched parameters, no stopping rule but the always-on ones."""
    run = {"name": "soak", "data": {"name": "mnist", "train_subset": 256, "val_size": 64, "test_subset": 64},
           "model": {"name": "small_cnn", "width": 4}, "method": {"name": "fgsm", "epsilon": 51},
           "optim": {"lr": 0.05}, "schedule": {"name": "constant"},
           "eval": {"epsilon": 51, "val_pgd_steps": 2, "probe_size": 32, "probe_pgd_steps": 2, "test_pgd": [[2, 1]],
                    "autoattack": False, "masking": {"n": 16, "apgd_steps": 5, "square_queries": 10}},
           "epochs": args.epochs, "batch_size": 64, "seed": 0, "threads": 1}
    doc = {"name": NAME, "run": run,
           "search": {"parameters": {"der.weight": {"distribution": "loguniform", "low": 0.01, "high": 10},
                                     "method.epsilon": {"distribution": "uniform", "low": 30, "high": 70}},
                      "num_samples": args.trials, "max_concurrent": args.concurrent, "sampler": "random",
                      "seed": args.seed},
           "stopping": {"delta_energy": {"enabled": False}, "probe": {"enabled": False}},
           "resources": {"cpu": 1, "max_failures": args.max_failures}}
    from study.spec.spec import StudySpec

    if "evaluation" in StudySpec.model_fields:  # issue 32: each trial's own small test reading, no answer reading
        doc["evaluation"] = {"trials": "as_configured", "answer": {"top": 0}}
    return doc


# ---------------------------------------------------------------- the surroundings

class Server(MlflowServer):
    """The MLflow tracking server under ``root`` (its log beside), stopped at once as a crash and started again on
    the same port with the same stores."""

    def __init__(self, root: Path) -> None:
        super().__init__(f"sqlite:///{root / 'mlflow-server.db'}", artifacts=root / "mlflow-artifacts",
                         log=root / "mlflow-server.log")

    def start(self) -> "Server":
        super().start()
        if not self.wait_ready(120):
            raise SystemExit("the MLflow server did not come up; see " + str(self.log))
        return self

    def stop(self) -> None:
        super().stop(abrupt=True)


def descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{d}/stat").read_text()
                kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += kids.get(p, [])
    return out


def mid_trial_workers(driver: int, experiment: Path, epochs: int) -> list[int]:
    """Worker processes (below the driver) of trials that have reported an epoch, so hold a checkpoint, and not
    their last one: killing one makes Ray retry its trial from that checkpoint in a new worker."""
    alive = set(descendants(driver))
    out = []
    for f in experiment.glob("trial_*/result.json"):
        with contextlib.suppress(OSError, ValueError):
            rows = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
            last = next((r for r in reversed(rows) if "epoch" in r), None)
            if last and last.get("epoch", epochs) < epochs and last.get("pid") in alive:
                out.append(last["pid"])
    return out


def finished_trials(storage: str) -> int:
    import optuna

    try:
        study = optuna.load_study(study_name=NAME, storage=storage)
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


# ---------------------------------------------------------------- the audit

def audit(ws: Path, storage: str, uri: str, args) -> tuple[list[tuple[str, object]], list[str]]:
    """(table rows, disagreements)."""
    import optuna
    from mlflow.tracking import MlflowClient

    from trainables.errors import CheckpointError
    from trainables.training.resume import check

    problems: list[str] = []
    trials = optuna.load_study(study_name=NAME, storage=storage).trials
    states = Counter(t.state.name for t in trials)
    if len(trials) != args.trials:
        problems.append(f"Optuna holds {len(trials)} trials, {args.trials} planned")
    for bad in ("RUNNING", "WAITING"):
        if states.get(bad):
            problems.append(f"{states[bad]} Optuna trial(s) {bad}")
    ray_ids = {rid: t.number for t in trials for rid in t.user_attrs.get("ray_trial_ids", [])}
    failed = {rid for t in trials if t.state.name == "FAIL" for rid in t.user_attrs.get("ray_trial_ids", [])}
    # a trial that failed before its first report has no MLflow run (none was opened): accounted for, not missing
    never_ran = {rid for rid in failed if not (ws / "ray" / NAME / f"trial_{rid}" / "result.json").exists()}

    cl = MlflowClient(tracking_uri=uri)
    exp = cl.get_experiment_by_name(NAME)
    runs = cl.search_runs([exp.experiment_id], max_results=50000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    by_trial = Counter(c.data.tags.get("trial_id") for c in children)
    duplicates = sum(n - 1 for n in by_trial.values() if n > 1)
    missing = sorted(set(ray_ids) - set(by_trial) - never_ran)
    gaps = twice = unfinished = no_test = 0
    for c in children:
        steps = [m.step for m in cl.get_metric_history(c.info.run_id, "val/pgd_acc")]
        epochs = int(float(c.data.tags.get("epochs_run", max(steps or [0]))))
        if len(steps) != len(set(steps)):
            twice += 1
        if sorted(set(steps)) != list(range(1, epochs + 1)):
            gaps += 1
        if c.info.status != "FINISHED" and not c.data.tags.get("stop_reason"):
            unfinished += 1
        if epochs == args.epochs and not cl.get_metric_history(c.info.run_id, "test/best/clean_acc"):
            no_test += 1
        if c.info.run_name != f"trial-{ray_ids.get(c.data.tags.get('trial_id'))}":
            problems.append(f"run {c.info.run_name} belongs to Ray trial {c.data.tags.get('trial_id')}")
    for what, n in (("duplicate MLflow runs", duplicates), ("Ray trials without an MLflow run", len(missing)),
                    ("runs with an epoch logged twice", twice), ("runs with an epoch missing", gaps),
                    ("runs not FINISHED", unfinished), ("finished runs without their test reading", no_test)):
        if n:
            problems.append(f"{n} {what}")
    if len(parents) != 1:
        problems.append(f"{len(parents)} parent runs")

    folders = sorted((ws / "ray" / NAME).glob("trial_*/checkpoint_*"))
    torn = []
    for folder in folders:
        try:
            check(folder)
        except CheckpointError as e:
            torn.append(str(e))
    if torn:
        problems.append(f"{len(torn)} torn checkpoint folders: {torn[:3]}")
    trial_dirs = {p.name.removeprefix("trial_") for p in (ws / "ray" / NAME).glob("trial_*")}
    if set(ray_ids) - trial_dirs:
        problems.append(f"{len(set(ray_ids) - trial_dirs)} Optuna trials without a Ray trial folder")
    retried = 0
    for f in (ws / "ray" / NAME).glob("trial_*/result.json"):
        pids = {json.loads(x).get("pid") for x in f.read_text().splitlines() if x.strip()}
        retried += len(pids - {None}) > 1
    lost = [f"trial {ray_ids[rid]} (Ray {rid}): {_first_error(ws / 'ray' / NAME / f'trial_{rid}')}" for rid in sorted(failed)]
    rows = [("trials planned", args.trials), ("Optuna trials", len(trials)),
            *((f"  {s}", n) for s, n in sorted(states.items())),
            ("Ray trials (seeds included)", len(ray_ids)), ("MLflow parent runs", len(parents)),
            ("MLflow child runs", len(children)), ("  duplicate runs", duplicates),
            ("  Ray trials without a run", len(missing)), ("  runs with an epoch twice", twice),
            ("  runs with an epoch missing", gaps), ("  runs not FINISHED", unfinished),
            ("trials that ran in a second worker (retried)", retried),
            ("trials lost (Optuna FAIL)", len(lost)), ("  of which never reported (no run: accounted)", len(never_ran)),
            ("checkpoint folders checked", len(folders)), ("  torn", len(torn))]
    return rows, problems, lost


def _first_error(trial_dir: Path) -> str:
    """The failures Ray recorded for a trial, in a line ('Failure # 1 ...: The actor died ...' x N)."""
    try:
        text = (trial_dir / "error.txt").read_text()
    except OSError:
        return "no error.txt"
    heads = [ln for ln in text.splitlines() if ln.startswith("Failure #")]
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("Failure #")), "")
    return f"{len(heads)} failure(s) recorded, the first: {first[:160]}"


# ---------------------------------------------------------------- the run

def markdown(doc: dict) -> str:
    """The table of a ``soak.json`` (bench/README.md re-prints it from bench/results/soak.json, no training)."""
    a = doc["args"]
    lines = [f"{a['trials']} trials × {a['epochs']} epochs, {a['concurrent']} at a time, a worker SIGKILLed every "
             f"{a['kill_every']} finished trials, the MLflow server down {float(a['down_s']):g} s once, "
             f"max_failures {a['max_failures']}, seed {a['seed']}.", "", "| | |", "|---|---|"]
    lines += [f"| {k.strip() if not k.startswith('  ') else '… ' + k.strip()} | {v} |" for k, v in doc["rows"]]
    lines += ["", "agreement: " + ("Optuna, MLflow and the checkpoints agree" if not doc["problems"]
                                   else "NO: " + "; ".join(doc["problems"]))]
    lost = [x.split(", the first: ")[0] + (": " + x.split(", the first: ")[1].split(".")[0] if ", the first: " in x
                                            else "") for x in doc["lost"]]
    lines.append("lost: " + ("none" if not lost else "; ".join(lost)))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--concurrent", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--kill-every", type=int, default=20, help="SIGKILL a running trial's worker every N finished trials")
    p.add_argument("--restart-at", type=int, default=None, help="finished trials at which the MLflow server is "
                   "stopped and started again (default: half of --trials)")
    p.add_argument("--down-s", type=float, default=10.0, help="how long the MLflow server stays down")
    p.add_argument("--max-failures", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "soak")
    p.add_argument("--report", type=Path, default=None, help="print the table of a soak.json and exit (no soak)")
    args = p.parse_args(argv)
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return 0
    restart_at = args.restart_at if args.restart_at is not None else args.trials // 2
    args.out = args.out.resolve()  # the MLflow server is given file URIs, which must be absolute
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    ws = args.out / "ws"
    spec_path = args.out / "soak.yaml"
    spec_path.write_text(yaml.safe_dump(spec(args), sort_keys=False))
    server = Server(args.out)
    server.start()
    storage = f"sqlite:///{ws / 'optuna.db'}"
    rng = random.Random(args.seed)
    events: list[dict] = []
    t0 = time.time()
    log = open(args.out / "study.out", "w")
    proc = subprocess.Popen([str(BIN / "study"), "run", str(spec_path), "--workspace", str(ws), "--mlflow-uri",
                             server.url, "--num-cpus", str(args.concurrent)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    next_kill, restarted = args.kill_every, False
    try:
        while proc.poll() is None:
            time.sleep(3.0)
            done = finished_trials(storage)
            if args.kill_every and done >= next_kill:
                victims = mid_trial_workers(proc.pid, ws / "ray" / NAME, args.epochs)
                if victims:
                    victim = rng.choice(victims)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(victim, signal.SIGKILL)
                    events.append({"t": round(time.time() - t0, 1), "finished": done, "event": f"killed worker {victim}"})
                    next_kill += args.kill_every
            if not restarted and done >= restart_at:
                server.stop()
                events.append({"t": round(time.time() - t0, 1), "finished": done, "event": "MLflow server stopped"})
                time.sleep(args.down_s)
                server.start()
                events.append({"t": round(time.time() - t0, 1), "finished": done, "event": "MLflow server started"})
                restarted = True
            print(f"\r{time.time() - t0:7.0f} s  {done}/{args.trials} trials finished, {len(events)} events",
                  end="", flush=True)
        wall = time.time() - t0
        print()
        rows, problems, lost = audit(ws, storage, server.url, args)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        server.stop()
    kills = sum(e["event"].startswith("killed") for e in events)
    rows = [("study exit code", proc.returncode), ("wall time (s)", round(wall)), ("workers killed", kills),
            ("MLflow server restarts", int(restarted)), *rows]
    width = max(len(k) for k, _ in rows)
    print(f"soak: {args.trials} trials x {args.epochs} epochs, {args.concurrent} at a time, a worker killed every "
          f"{args.kill_every} finished trials, the MLflow server down {args.down_s:g} s at {restart_at}")
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")
    print("agreement: " + ("Optuna, MLflow and the checkpoints agree" if not problems and proc.returncode == 0
                           else "NO: " + "; ".join(problems or [f"the study exited with {proc.returncode}"])))
    print("lost: " + ("none" if not lost else "; ".join(lost)))
    (args.out / "soak.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items() if k != "out"},
                                                    "rows": rows, "events": events, "problems": problems,
                                                    "lost": lost}, indent=1))
    return 0 if not problems and not lost and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
