"""Platform overhead: epoch time of the bare training loop vs the same config run as a study trial.

Bare: ``Trainer`` in this process, energy trace off, no Ray, no MLflow. Platform: the same run
config as a one-trial study through Ray Tune (a checkpoint and a report per epoch), MLflow (a child
run, one ``log_batch`` per epoch) and the energy trace. Per-epoch wall time is compared in steady
state (the first epoch, with its start-up, is dropped); for the study it is Tune's
``time_this_iter_s``, which spans everything the trial does between two reports. Bare and study
runs alternate; the ratio of medians is printed (target ≤ 1.05).

    STUDY_DATA_DIR=../shared/data python bench/overhead.py
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_config(args) -> dict:
    return {
        "name": "overhead",
        "data": {"name": "mnist", "train_subset": args.images, "val_size": 256, "test_subset": 256},
        "model": {"name": "small_cnn"},
        "method": {"name": args.method, "epsilon": 51},
        "optim": {"lr": 0.05}, "schedule": {"name": "constant"},
        "eval": {"final": False, "val_pgd_steps": 10, "probe_size": 128},
        "epochs": args.epochs, "batch_size": 128, "seed": 0, "threads": 1,
    }


def bare(args) -> list[float]:
    from trainables.schema.config import RunConfig
    from trainables.training.trainer import Trainer

    cfg = run_config(args)
    cfg["eval"]["energy_trace"] = False
    trainer = Trainer(RunConfig.model_validate(cfg))
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        trainer.train_epoch()
        times.append(time.perf_counter() - t0)
    return times[1:]


def platform(args, ws: Path, i: int) -> list[float]:
    from study.run.engine import run_study
    from study.run.options import resolve_options
    from study.spec.spec import StudySpec

    name = f"overhead-{i}"
    spec = StudySpec.model_validate({
        "name": name, "run": run_config(args),
        "search": {"parameters": {"der.weight": {"distribution": "choice", "values": [0.0]}}, "num_samples": 1,
                   "max_concurrent": 1},
        "stopping": {"delta_energy": {"enabled": False}, "probe": {"enabled": False}},
        "resources": {"cpu": 1, "max_failures": 0},
    })
    opts = resolve_options(str(ws))
    run_study(spec, name, opts)
    result = next((ws / "ray" / name).glob("trial_*/result.json"))
    rows = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
    return [r["time_this_iter_s"] for r in rows][1:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="pgd", help="pgd (PGD-10, the default recipe's method) or fgsm")
    ap.add_argument("--images", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "overhead.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("STUDY_DATA_DIR", str(Path(__file__).parents[2] / "shared" / "data"))
    from study.run import env

    env.apply()
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    ws = Path(tempfile.mkdtemp(prefix="overhead-"))
    b, p = [], []
    for i in range(args.rounds):
        b += bare(args)
        p += platform(args, ws, i)
    mb, mp = statistics.median(b), statistics.median(p)
    result = {"method": args.method, "images": args.images, "bare_epoch_s": b, "platform_epoch_s": p,
              "bare_median_s": mb, "platform_median_s": mp, "ratio": mp / mb}
    print(f"\n{args.method} on {args.images} MNIST images, small CNN, 1 thread; steady-state epochs, {args.rounds} rounds")
    print(f"bare loop (no trace, no Ray, no MLflow): median {mb:.3f} s/epoch  {[round(x, 2) for x in b]}")
    print(f"study trial (Ray Tune + MLflow + trace):  median {mp:.3f} s/epoch  {[round(x, 2) for x in p]}")
    print(f"ratio {mp / mb:.3f} (target <= 1.05)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
