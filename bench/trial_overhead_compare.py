"""Before/after tables (markdown) from two or more ``bench/trial_overhead.py`` JSON files.

For each setting, every round of every file is a column: wall time, the study-level steps, and the
mean seconds per trial of each phase (over all trials, and over a worker's first trials and the
reused workers' trials). Only figures the bench measured are printed.

    python bench/trial_overhead_compare.py bench/out/trial_overhead-before.json bench/out/trial_overhead-after.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trial_overhead import DRIVER_ROWS, WORKER_ROWS  # noqa: E402

STEPS = [("ray_init", "Ray start"), ("mlflow_parent_run", "MLflow parent run (and store creation)"),
         ("register_best", "model registration"), ("optuna_reconcile", "Optuna reconcile")]


def columns(files: list[Path], setting: str) -> list[tuple[str, dict, dict]]:
    cols = []
    for f in files:
        data = json.loads(f.read_text())
        for r in data["rounds"]:
            if r["setting"] == setting:
                cols.append((f"{data['label']} r{r['round'] + 1} (load {r['load_before'][0]:.1f})", r["summary"], r))
    return cols


def fmt(x) -> str:
    return "–" if x is None or x != x else f"{x:.2f}"


def table(files: list[Path], setting: str) -> None:
    cols = columns(files, setting)
    if not cols:
        return
    r0 = cols[0][2]
    print(f"\n{r0['trials_planned']} trials, max_concurrent {r0['concurrent']}, cpu {r0['cpu']}\n")
    print("| | " + " | ".join(c[0] for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    print("| **wall (s)** | " + " | ".join(f"**{c[1]['study']['wall_s']:.1f}**" for c in cols) + " |")
    print("| worker processes | " + " | ".join(str(c[1]["study"]["processes"]) for c in cols) + " |")
    for key, label in STEPS:
        print(f"| {label} | " + " | ".join(fmt(c[1]["study"].get(key)) for c in cols) + " |")
    groups = (("all", "every trial"), ("fresh", "a worker's first trial"), ("reused", "a reused worker's trial"))
    for group, what in groups:
        print(f"| *per trial, {what} (n)* | " + " | ".join(str(c[1][group]["n"]) for c in cols) + " |")
        for key, label in DRIVER_ROWS[:1] + WORKER_ROWS + DRIVER_ROWS[1:]:
            vals = [c[1][group]["phases"].get(key) if c[1][group]["n"] else None for c in cols]
            if any(v is not None and v >= 0.005 for v in vals):
                print(f"| {label.strip()} | " + " | ".join(fmt(v) for v in vals) + " |")
        print(f"| **fixed cost per trial ({group})** | "
              + " | ".join(f"**{fmt(c[1][group]['fixed_s'])}**" for c in cols) + " |")


def main(argv=None) -> int:
    files = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    for setting in ("serial", "parallel"):
        table(files, setting)
    return 0


if __name__ == "__main__":
    sys.exit(main())
