"""Does the ΔE rule stop the right trials, and what does it save?

Part A (calibration, seconds): replays the stopping rules on every trace written by
``bench/co_study.py`` and judges them against the truth (classic CO: val PGD ≥ 0.2, then < 0.1
within 2 epochs): recall, precision, delay (stop epoch − collapse epoch), epochs saved, for a grid
of constants. The constants are chosen here, from these traces: the most precise rule among those
with the highest recall (ties: smaller delay, then more epochs saved).

Part B (a real sweep, minutes): the same CO-prone study twice through the engine (Ray Tune +
Optuna with a seeded random sampler, so both runs train the same configurations), without and
with the chosen rule: trial-epochs spent, best configuration found, and the saving as a ratio.

    python bench/early_stopping.py --traces bench/out/co_study.json            # A then B
    python bench/early_stopping.py --skip-sweep                                # A only
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.stopping.calibrate import grid, judge  # noqa: E402
from study.stopping.rules import DeltaEnergyDivergence, NonFinite, ProbeCollapse, StoppingPolicy  # noqa: E402
from trainables import records as R  # noqa: E402

DE_GRID = grid(metric=[R.TRAIN_DELTA_MEAN, R.VAL_DELTA_MEAN, "energy/train/delta_p5"], grace_epochs=[1, 2],
               window=[2, 3], threshold=[3.0, 4.0, 6.0, 8.0, 12.0], min_scale=[0.05, 0.1], rel_scale=[0.1, 0.25])
PROBE_GRID = grid(drop=[0.1, 0.15, 0.2, 0.3], reference=["best", "previous"], grace_epochs=[1])


def _key(v):
    nan = v.recall != v.recall
    return (-1 if nan else v.recall, -1 if v.precision != v.precision else v.precision,
            -(v.mean_delay if v.mean_delay is not None else 99), v.saved_epochs)


def calibrate(traces: list[list[dict]], args) -> dict:
    rows = []
    for params in DE_GRID:
        v = judge(StoppingPolicy([NonFinite(), DeltaEnergyDivergence(**params)]), traces, args.robust, args.floor)
        rows.append(("delta_energy", params, v))
    for params in PROBE_GRID:
        v = judge(StoppingPolicy([NonFinite(), ProbeCollapse(**params)]), traces, args.robust, args.floor)
        rows.append(("probe", params, v))
    rows.sort(key=lambda r: _key(r[2]), reverse=True)
    n, co = rows[0][2].n, rows[0][2].collapsed
    print(f"\nPart A: {n} traces, {co} with a classic CO (val PGD >= {args.robust} then < {args.floor} within 2 epochs)")
    print(f"{'rule':13} {'recall':>6} {'prec':>5} {'delay':>5} {'early':>5} {'stopped':>7} {'saved ep':>8}  constants")
    shown = [r for r in rows if r[0] == "delta_energy"][:8] + [r for r in rows if r[0] == "probe"][:4]
    for kind, params, v in shown:
        delay = f"{v.mean_delay:.2f}" if v.mean_delay is not None else "-"
        print(f"{kind:13} {v.recall:6.2f} {v.precision:5.2f} {delay:>5} {v.early_stops:5d} {v.stopped:7d} "
              f"{v.saved_epochs:8d}  {params}")
    best_de = next(r for r in rows if r[0] == "delta_energy")
    best_probe = next(r for r in rows if r[0] == "probe")
    # the untuned default of the platform, for reference
    default = judge(StoppingPolicy([NonFinite(), DeltaEnergyDivergence()]), traces, args.robust, args.floor)
    print(f"\nplatform default ΔE rule: recall {default.recall:.2f} precision {default.precision:.2f} "
          f"delay {default.mean_delay} stopped {default.stopped}")
    return {"delta_energy": best_de[1], "delta_energy_verdict": vars(best_de[2]), "probe": best_probe[1],
            "probe_verdict": vars(best_probe[2]), "default_verdict": vars(default)}


def sweep_spec(args, stopping: dict, name: str) -> dict:
    return {
        "name": name,
        "run": {"data": {"name": "mnist", "train_subset": args.train_subset, "val_size": 256, "test_subset": 256},
                "model": {"name": "small_cnn"}, "method": {"name": "fgsm", "epsilon": 56},
                "optim": {"lr": 0.1}, "schedule": {"name": "cyclic"},
                "eval": {"epsilon": 56, "val_pgd_steps": 10, "probe_size": 128, "test_pgd": [[10, 1]], "autoattack": False},
                "epochs": args.epochs, "batch_size": 128, "threads": 1},
        "search": {"parameters": {"method.epsilon": {"distribution": "uniform", "low": 40, "high": 72},
                                  "der.weight": {"distribution": "loguniform", "low": 0.01, "high": 10}},
                   "num_samples": args.samples, "max_concurrent": 2, "sampler": "random", "seed": args.seed},
        "stopping": stopping,
        "resources": {"cpu": 1, "max_failures": 0},
    }


def run_sweep(chosen: dict, args) -> dict:
    import yaml

    from study.engine import run_study
    from study.options import resolve_options
    from study.spec import StudySpec
    from study.status import trial_rows

    off = {"delta_energy": {"enabled": False}, "probe": {"enabled": False}}
    on = {"delta_energy": {"enabled": True, **chosen["delta_energy"]}, "probe": {"enabled": False}}
    ws = Path(args.workspace or tempfile.mkdtemp(prefix="es-bench-"))
    out = {}
    for label, stopping in (("without", off), ("with", on)):
        name = f"es-{label}-{int(time.time())}"
        spec = StudySpec.model_validate(sweep_spec(args, stopping, name))
        opts = resolve_options(str(ws), mlflow_uri="none")
        t0 = time.perf_counter()
        run_study(spec, name, opts)
        wall = time.perf_counter() - t0
        rows = trial_rows(opts.optuna_storage, name)
        epochs = sum(r.epochs or 0 for r in rows)
        done = [r for r in rows if R.VAL_PGD_ACC in r.metrics]
        best = max(done, key=lambda r: r.metrics.get(R.BEST_VAL_PGD, r.metrics[R.VAL_PGD_ACC]))
        out[label] = {"trial_epochs": epochs, "wall_s": wall, "stopped": sum(bool(r.stop_reason) for r in rows),
                      "best_params": best.params, "best_val_pgd": best.metrics.get(R.BEST_VAL_PGD),
                      "trials": [r.as_dict() for r in rows]}
        print(f"\n{label} the ΔE rule: {epochs} trial-epochs, {out[label]['stopped']} stopped, {wall:.0f} s; best "
              f"val PGD (best epoch) {out[label]['best_val_pgd']:.3f} at {best.params}")
        for r in rows:
            print(f"  trial {r.number}: {r.state:8} {r.stop_reason or '-':13} epochs {r.epochs}  "
                  f"eps {r.params['method.epsilon']:.1f}  lambda {r.params['der.weight']:.3g}  "
                  f"best val PGD {r.metrics.get(R.BEST_VAL_PGD, float('nan')):.3f}")
    out["saving_ratio"] = out["with"]["trial_epochs"] / max(out["without"]["trial_epochs"], 1)
    print(f"\ntrial-epochs with/without the rule: {out['with']['trial_epochs']}/{out['without']['trial_epochs']}"
          f" = {out['saving_ratio']:.2f}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--traces", default=str(Path(__file__).parent / "out" / "co_study.json"))
    ap.add_argument("--robust", type=float, default=0.2)
    ap.add_argument("--floor", type=float, default=0.1)
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--train-subset", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "early_stopping.json"))
    args = ap.parse_args(argv)

    data = json.loads(Path(args.traces).read_text())
    traces = [r["records"] for r in data["runs"]]
    result = {"calibration": calibrate(traces, args)}
    print(f"\nchosen ΔE constants: {result['calibration']['delta_energy']}")
    if not args.skip_sweep:
        os.environ.setdefault("STUDY_DATA_DIR", str(Path(__file__).parents[2] / "shared" / "data"))
        result["sweep"] = run_sweep(result["calibration"], args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
