"""A trial's fixed cost, phase by phase: tiny trials through the whole platform at 1 and at 4 concurrent.

Each setting is one real study (local Ray started fresh, SQLite Optuna and MLflow in a temporary
workspace) of tiny trials: MNIST, 256 training images, ``small_cnn`` width 4, 2 epochs, no stopping
rules, so nearly everything a trial costs is fixed cost. Two clocks are read:

* inside each trial (``trainables.tune.timing``, switched on by ``$STUDY_TRIAL_TIMING``): imports, data,
  model build, MLflow child run open / per-epoch logging / close, training, per-epoch validation,
  final evaluation, checkpoint writes, ``tune.report`` (which persists the checkpoint and waits for
  the driver), clean-up;
* on the driver (wrapped here, behaviour unchanged): when Tune asks for a trial's actor, when the
  trial completes, the ledger callback that finalises its MLflow run, Optuna's ask and tell,
  and the study-level steps (Ray start, parent run, model registration).

"worker start" is the time from Tune scheduling the trial's actor to the trial function running.
The fixed cost of a trial is its slot (scheduled → completed on the driver, plus the wait for the
next one to be scheduled) minus its training time. Trials that ran in a worker process which had
run another trial before are counted apart ("reused") from a worker's first ("fresh"). Prints a
table per setting and round and writes the JSON to ``bench/out/trial_overhead-<label>.json``. The
code measured is the tree this script sits in (and the workers get it on ``PYTHONPATH``): to measure
another commit, run a copy of this script placed in an export of that commit.

    STUDY_DATA_DIR=/work/shared/data python bench/trial_overhead.py --label after --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

EVENTS: dict[str, dict] = defaultdict(dict)  # trial_id -> driver-side timestamps and durations
STUDY: dict[str, float] = defaultdict(float)  # study-level step -> seconds

WORKER_ROWS = [("imports", "imports (torch, trainer)"), ("data", "data (decode, split, loaders)"),
               ("model", "model build"), ("restore", "checkpoint restore"), ("mlflow_open", "MLflow child run open"),
               ("training", "training"), ("validation", "per-epoch validation + probe"),
               ("final_eval", "final evaluation"), ("mlflow_log", "per-epoch MLflow logging"),
               ("checkpoint", "checkpoint writes"), ("report", "tune.report (persist + driver round trip)"),
               ("mlflow_close", "MLflow close (worker)"), ("cleanup", "clean-up")]
DRIVER_ROWS = [("worker_start", "worker start (actor scheduled → trial function runs)"),
               ("end_on_driver", "trial end on driver (function returns → trial complete)"),
               ("ledger", "  of which: ledger finalise (MLflow tags, trace CSV + plot, status)"),
               ("optuna_tell", "  of which: Optuna tell"),
               ("between", "between trials (complete → next actor scheduled, incl. Optuna ask)")]


def tiny_spec(name: str, trials: int, concurrent: int, cpu: float) -> dict:
    run = {"name": "tiny", "data": {"name": "mnist", "train_subset": 256, "val_size": 128, "test_subset": 128},
           "model": {"name": "small_cnn", "width": 4}, "method": {"name": "fgsm", "epsilon": 51},
           "optim": {"lr": 0.05}, "schedule": {"name": "constant"},
           "eval": {"val_pgd_steps": 3, "probe_size": 64, "probe_pgd_steps": 3, "test_pgd": [[3, 1]],
                    "autoattack": False},
           "epochs": 2, "batch_size": 64, "seed": 0, "threads": 1}
    return {"name": name, "run": run,
            "search": {"parameters": {"der.weight": {"distribution": "loguniform", "low": 0.01, "high": 10},
                                      "method.epsilon": {"distribution": "uniform", "low": 30, "high": 70}},
                       "num_samples": trials, "max_concurrent": concurrent, "sampler": "random", "seed": 0},
            "stopping": {"delta_energy": {"enabled": False}, "probe": {"enabled": False}},
            "resources": {"cpu": cpu, "max_failures": 0}}


def _timed(owner, attr: str, key, per_trial: bool = False) -> None:
    """Wrap ``owner.attr`` so its wall time is added to STUDY[key] or EVENTS[trial_id][key]."""
    orig = getattr(owner, attr)

    def wrapper(*a, **kw):
        t0 = time.time()
        try:
            return orig(*a, **kw)
        finally:
            if per_trial:
                tid = key[1](a, kw)
                EVENTS[tid][key[0]] = EVENTS[tid].get(key[0], 0.0) + time.time() - t0
            else:
                STUDY[key] += time.time() - t0

    setattr(owner, attr, wrapper)


def instrument() -> None:
    """Driver-side clocks; every wrapped call still does exactly what it did."""
    import study.run.cluster
    import study.run.engine
    import study.search.search
    from ray.tune import Callback
    from ray.tune.execution.tune_controller import TuneController
    from study.search.search import StudySearch
    from study.tracking.driver import LedgerCallback, Tracking

    class Clock(Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            EVENTS[trial.trial_id]["completed"] = time.time()

        on_trial_error = on_trial_complete

    sched = TuneController._schedule_trial_actor

    def schedule(self, trial):
        EVENTS[trial.trial_id].setdefault("scheduled", time.time())
        return sched(self, trial)

    TuneController._schedule_trial_actor = schedule
    parts = study.run.engine._build_tuner_parts

    def build(*a, **kw):
        searcher, scheduler, callbacks, space = parts(*a, **kw)
        return searcher, scheduler, [*callbacks, Clock()], space

    study.run.engine._build_tuner_parts = build
    _timed(study.run.cluster, "init_ray", "ray_init")
    _timed(Tracking, "start", "mlflow_parent_run")
    _timed(Tracking, "register_best", "register_best")
    _timed(Tracking, "finish", "mlflow_parent_close")
    _timed(study.search.search, "reconcile", "optuna_reconcile")
    _timed(LedgerCallback, "_finalise", ("ledger", lambda a, kw: a[1].trial_id), per_trial=True)
    _timed(StudySearch, "on_trial_complete", ("optuna_tell", lambda a, kw: a[1]), per_trial=True)


def run_setting(ws: Path, name: str, trials: int, concurrent: int, cpu: float) -> dict:
    import ray

    from study.run.engine import run_study
    from study.run.options import resolve_options
    from study.spec.spec import StudySpec

    EVENTS.clear()
    STUDY.clear()
    timing = ws / "timing"
    os.environ["STUDY_TRIAL_TIMING"] = str(timing)
    spec = StudySpec.model_validate(tiny_spec(name, trials, concurrent, cpu))
    t0 = time.time()
    try:
        run_study(spec, name, resolve_options(str(ws)))
    finally:
        wall = time.time() - t0
        ray.shutdown()
        os.environ.pop("STUDY_TRIAL_TIMING", None)
    worker = {}
    for f in timing.glob("*.jsonl"):
        for line in f.read_text().splitlines():
            row = json.loads(line)
            worker[row["trial_id"]] = row
    return {"wall_s": wall, "study_steps": dict(STUDY), "trials": per_trial(worker), "trials_planned": trials,
            "concurrent": concurrent, "cpu": cpu}


def per_trial(worker: dict) -> list[dict]:
    rows = []
    order = sorted(EVENTS, key=lambda t: EVENTS[t].get("scheduled", 0))
    for i, tid in enumerate(order):
        ev, w = EVENTS[tid], worker.get(tid)
        if w is None or "completed" not in ev:
            continue
        ph = dict(w["phases"])
        ph["validation"] = ph.pop("epoch", 0.0) - ph.get("training", 0.0)
        ph["worker_start"] = w["entered"] - ev["scheduled"]
        ph["end_on_driver"] = ev["completed"] - w["left"]
        ph["ledger"], ph["optuna_tell"] = ev.get("ledger", 0.0), ev.get("optuna_tell", 0.0)
        later = [EVENTS[t]["scheduled"] for t in order[i + 1:] if "scheduled" in EVENTS[t]]
        ph["between"] = max(0.0, min(later) - ev["completed"]) if later else 0.0
        slot = ev["completed"] - ev["scheduled"]
        rows.append({"trial_id": tid, "pid": w["pid"], "reused": w["trials_before"] > 0,
                     "frozen_objects": w.get("frozen_objects"), "slot_s": slot,
                     "fixed_s": slot + ph["between"] - ph.get("training", 0.0), "phases": ph})
    return rows


def summarize(res: dict) -> dict:
    trials = res["trials"]
    mean = lambda xs: statistics.fmean(xs) if xs else float("nan")  # noqa: E731
    groups = {"all": trials, "fresh": [t for t in trials if not t["reused"]],
              "reused": [t for t in trials if t["reused"]]}
    out = {}
    for g, ts in groups.items():
        keys = {k for t in ts for k in t["phases"]}
        out[g] = {"n": len(ts), "slot_s": mean([t["slot_s"] for t in ts]), "fixed_s": mean([t["fixed_s"] for t in ts]),
                  "phases": {k: mean([t["phases"].get(k, 0.0) for t in ts]) for k in sorted(keys)}}
    n = len(trials)
    training = sum(t["phases"].get("training", 0.0) for t in trials)
    out["study"] = {"wall_s": res["wall_s"], "trials": n, "processes": len({t["pid"] for t in trials}),
                    "fixed_per_trial_incl_startup_s": (res["wall_s"] - training) / n if n else float("nan"),
                    "wall_per_slot_s": res["wall_s"] * res["concurrent"] / n if n else float("nan"),
                    **res["study_steps"]}
    return out


def print_table(title: str, s: dict) -> None:
    print(f"\n{title}")
    st = s["study"]
    print(f"  wall {st['wall_s']:.1f} s for {st['trials']} trials in {st['processes']} worker processes; "
          f"wall x concurrency / trials = {st['wall_per_slot_s']:.2f} s; "
          f"(wall - training) / trials = {st['fixed_per_trial_incl_startup_s']:.2f} s")
    print("  study steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in st.items()
                                        if k not in ("wall_s", "trials", "processes", "wall_per_slot_s",
                                                     "fixed_per_trial_incl_startup_s")))
    cols = [g for g in ("all", "fresh", "reused") if s[g]["n"]]
    print(f"  {'phase (mean s per trial)':66s}" + "".join(f"{g + ' (' + str(s[g]['n']) + ')':>12s}" for g in cols))
    for key, label in DRIVER_ROWS[:1] + WORKER_ROWS + DRIVER_ROWS[1:]:
        print(f"  {label:66s}" + "".join(f"{s[g]['phases'].get(key, 0.0):12.3f}" for g in cols))
    print(f"  {'slot (scheduled → completed)':66s}" + "".join(f"{s[g]['slot_s']:12.3f}" for g in cols))
    print(f"  {'FIXED COST (slot + between - training)':66s}" + "".join(f"{s[g]['fixed_s']:12.3f}" for g in cols))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", default="run", help="names the JSON file (e.g. before / after)")
    ap.add_argument("--serial-trials", type=int, default=4, help="trials at max_concurrent 1 (cpu 1)")
    ap.add_argument("--parallel-trials", type=int, default=40, help="trials at max_concurrent 4 (cpu 0.5)")
    ap.add_argument("--only", choices=("serial", "parallel"), help="run one setting only")
    ap.add_argument("--rounds", type=int, default=1, help="repeat each setting (a fresh study and Ray each time)")
    ap.add_argument("--out", default=str(REPO / "bench" / "out"))
    args = ap.parse_args(argv)
    os.environ.setdefault("STUDY_DATA_DIR", str(REPO.parent / "shared" / "data"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    from study.run import env

    env.apply()
    instrument()
    settings = [("serial", args.serial_trials, 1, 1.0), ("parallel", args.parallel_trials, 4, 0.5)]
    result = {"label": args.label, "code": str(REPO), "rounds": []}
    for rnd in range(args.rounds):
        for key, trials, conc, cpu in settings:
            if args.only and key != args.only:
                continue
            load = os.getloadavg()
            with tempfile.TemporaryDirectory(prefix="trial-overhead-") as ws:
                res = run_setting(Path(ws), f"overhead-{key}", trials, conc, cpu)
            res.update(setting=key, round=rnd, load_before=load, load_after=os.getloadavg())
            res["summary"] = summarize(res)
            result["rounds"].append(res)
            print_table(f"[{args.label}] round {rnd + 1}: {trials} trials, max_concurrent {conc}, cpu {cpu} "
                        f"(1-min load average before {load[0]:.2f}, after {res['load_after'][0]:.2f})", res["summary"])
    out = Path(args.out) / f"trial_overhead-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
