"""What a stopping rule saves on a real sweep, and whether the sweep still finds the same best configuration.

The same CO-prone study twice through the engine (Ray Tune + Optuna, a seeded random sampler, so both runs
train the same configurations): without stopping rules, then with one rule at the constants the held-out
judgement chose (``bench/co_judge.py``'s JSON; the choice used the calibration half of the corpus only).
Printed: trial-steps trained (a stopped trial counts up to its stop), trials stopped and why, wall time, and
the best configuration each run selected on the search objective (``best/val_robust_acc``).

The study is the corpus's regime (``bench/co_corpus.py --attack-bn-mode eval``): MNIST, 4,000 training
images, small CNN, FGSM from zero with the attack's BatchNorm in eval mode, SGD 0.1 cyclic, 6 epochs, ε
searched in [48, 64] (evaluation fixed at 56) and the DER weight in [0.01, 1].

    STUDY_DATA_DIR=../shared/data python bench/early_stopping.py --judge bench/out/co_judge_epochs.json \\
        --rule "probe PGD drop"
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

def chosen_rule(judge_file: str, label: str) -> dict:
    """The ``stopping`` section of a spec that turns on the judged rule ``label`` at its chosen constants.

    A single rule or an "A or B" composite (a policy stops when any rule does); "A and B" has no spec form."""
    sys.path.insert(0, str(Path(__file__).parent))
    from co_judge import FAMILIES, PROBE  # noqa: E402  (bench/ is this script's folder)
    from study.stopping.rules import DeltaEnergyDivergence, ProbeCollapse

    rows = {r["rule"]: r for r in json.loads(Path(judge_file).read_text())["rows"]}
    if label not in rows or not rows[label]["constants"]:
        raise SystemExit(f"--rule {label!r} has no chosen constants in {judge_file}; rules there: "
                         f"{', '.join(k for k, r in rows.items() if r['constants'])}")
    constants = rows[label]["constants"]
    if isinstance(constants, list):  # co_judge.py keeps one choice per split (folds of settings: several)
        if any(c != constants[0] for c in constants):
            raise SystemExit(f"--rule {label!r}: its splits chose different constants ({constants}); judge with "
                             f"--split seeds or --judge-on to have one choice")
        constants = constants[0]
    if label.startswith("best ΔE "):
        raise SystemExit(f"--rule {label!r}: name the ΔE family itself (e.g. 'ΔE p5 (train)'), not a composite")
    if label.endswith(" and probe"):
        raise SystemExit(f"--rule {label!r}: an 'and' composite cannot be written as a spec's stopping section")
    parts = [(label[: -len(" or probe")], constants["a"]), (PROBE, constants["b"])] \
        if label.endswith(" or probe") else [(label, constants)]
    section = {"delta_energy": {"enabled": False}, "probe": {"enabled": False}}
    for name, constants in parts:
        rule = FAMILIES[name][0](**constants)
        key = {DeltaEnergyDivergence: "delta_energy", ProbeCollapse: "probe"}.get(type(rule))
        if key is None:
            raise SystemExit(f"--rule {label!r}: {type(rule).__name__} is a bench candidate, not a spec rule")
        section[key] = {**rule.model_dump(), "enabled": True}
    return section


def sweep_spec(args, stopping: dict, name: str) -> dict:
    masking = {"n": 128, "apgd_steps": 50, "square_queries": 100}
    return {
        "name": name,
        "run": {"data": {"name": "mnist", "train_subset": args.train_subset, "val_size": 256, "test_subset": 256},
                "model": {"name": "small_cnn", "width": 16},
                "method": {"name": "fgsm", "epsilon": 56, "attack_bn_mode": "eval"},
                "optim": {"lr": 0.1}, "schedule": {"name": "cyclic"},
                "eval": {"epsilon": 56, "val_pgd_steps": 10, "probe_size": 128, "probe_pgd_steps": 10,
                         "masking": masking, "report_every": args.report_every, "test_pgd": [[10, 1]],
                         "autoattack": False},
                "epochs": args.epochs, "batch_size": 128, "threads": 1},
        "search": {"parameters": {"method.epsilon": {"distribution": "uniform", "low": 48, "high": 64},
                                  "der.weight": {"distribution": "loguniform", "low": 0.01, "high": 1}},
                   "num_samples": args.samples, "max_concurrent": 2, "sampler": "random", "seed": args.seed},
        "stopping": stopping,
        "resources": {"cpu": 1, "max_failures": 0},
    }


def run_once(args, stopping: dict, label: str, ws: Path) -> dict:
    from study.run.engine import run_study
    from study.run.options import resolve_options
    from study.spec.spec import StudySpec
    from study.results.status import trial_rows
    from trainables.schema import records as R

    name = f"es-{label}-{int(time.time())}"
    spec = StudySpec.model_validate(sweep_spec(args, stopping, name))
    opts = resolve_options(str(ws), mlflow_uri="none")
    t0 = time.perf_counter()
    run_study(spec, name, opts)
    wall = time.perf_counter() - t0
    rows = trial_rows(opts.optuna_storage, name)
    per_epoch = -(-args.train_subset // 128)
    steps = sum(r.stop_step if r.stop_step is not None else round((r.epochs or 0) * per_epoch) for r in rows)
    done = [r for r in rows if R.BEST_VAL_ROBUST in r.metrics]
    best = max(done, key=lambda r: r.metrics[R.BEST_VAL_ROBUST])
    out = {"trial_steps": steps, "wall_s": wall, "stopped": sum(bool(r.stop_reason) for r in rows),
           "best_trial": best.number, "best_params": best.params, "best_objective": best.metrics[R.BEST_VAL_ROBUST],
           "trials": [r.as_dict() for r in rows]}
    print(f"\n{label}: {steps} trial-steps, {out['stopped']} of {len(rows)} trials stopped, {wall:.0f} s; best "
          f"{R.BEST_VAL_ROBUST} {out['best_objective']:.3f} (trial {best.number}, {best.params})", flush=True)
    for r in rows:
        print(f"  trial {r.number:2}: {r.state:8} {r.stop_reason or '-':13} epochs {r.epochs}  step {r.stop_step}  "
              f"eps {r.params['method.epsilon']:.1f}  lambda {r.params['der.weight']:.3g}  "
              f"{R.BEST_VAL_ROBUST} {r.metrics.get(R.BEST_VAL_ROBUST, float('nan')):.3f}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--judge", default=str(Path(__file__).parent / "out" / "co_judge_epochs.json"),
                    help="bench/co_judge.py's JSON: the rule's constants chosen on the calibration half")
    ap.add_argument("--rule", default="probe PGD drop", help="a rule label of that JSON")
    ap.add_argument("--report-every", type=int, default=None,
                    help="eval.report_every (set it when the judge JSON is the window-resolution one)")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--train-subset", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "early_stopping.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("STUDY_DATA_DIR", str(Path(__file__).parents[2] / "shared" / "data"))

    on = chosen_rule(args.judge, args.rule)
    off = {"delta_energy": {"enabled": False}, "probe": {"enabled": False}}
    print(f"rule {args.rule!r} at its chosen constants: {json.dumps({k: v for k, v in on.items() if v['enabled']})}",
          flush=True)
    ws = Path(args.workspace or tempfile.mkdtemp(prefix="es-bench-"))
    result = {"args": vars(args), "rule": on, "without": run_once(args, off, "without", ws),
              "with": run_once(args, on, "with", ws)}
    w, wo = result["with"], result["without"]
    result["saving"] = 1 - w["trial_steps"] / max(wo["trial_steps"], 1)
    result["same_best"] = w["best_params"] == wo["best_params"]
    print(f"\nsaving: {result['saving']:.0%} of trial-steps ({w['trial_steps']} vs {wo['trial_steps']}); wall "
          f"{w['wall_s']:.0f} s vs {wo['wall_s']:.0f} s; same best configuration: {result['same_best']} "
          f"(trial {w['best_trial']} vs {wo['best_trial']})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
