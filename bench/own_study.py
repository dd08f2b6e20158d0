"""Where a researcher's own small study spends its wall time (issue 32), at growing training sets.

The study is tests/study/own_study.yaml (Fashion-MNIST, the DER weight log-uniform, 4 trials x 2 epochs, 2 at a
time, every evaluation and stopping setting at its default), run by `study run` as a user runs it, once per
``--train-subsets`` size (the spec's ``run.data.train_subset`` changed, nothing else). Two clocks are read:

* the console, line by line (tests/console_clock.py): the wall time, the longest silent stretch, and the phases
  the user sees: start-up (Python, Ray, MLflow and the first workers, to the first trial line), the answer's test
  reading at the study's end (PGD-50x10 on 1,000 test images);
* inside every trial (``$STUDY_TRIAL_TIMING``, trainables.tune.timing): training proper (``time/train_s``: the
  optimisation steps with their attacks), per-epoch validation (the rest of the epoch: validation PGD, the
  masking check, the probe), the per-trial test reading (``evaluation.trials: cheap``) and everything else a trial
  does (imports, data, MLflow, checkpoints, reports).

A study with 2 trials at a time has 2 x wall slot-seconds; each share below is a sum over trials divided by that,
so "training" is the share of the machine's trial slots spent in optimisation steps (the rest are slots idle
while Ray starts, while the driver reads the answer, and between trials). ``--autoattack`` also times
`study evaluate NAME --top 1` (AutoAttack standard on the same 1,000 images) after the smallest size.

    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/own_study.py --results bench/results/own_study.json
    python bench/own_study.py --replay bench/results/own_study.json     # the table again, no training

Timings are of the machine it runs on: run it with nothing else on the cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
SPEC = REPO / "tests" / "study" / "own_study.yaml"
STUDY = REPO / ".venv" / "bin" / "study"
SLOTS_PHASES = ("training", "validation", "trial_test", "trial_other")


def _spec_for(size: int, folder: Path) -> tuple[str, Path]:
    import yaml

    from study.spec.yamlio import read_mapping

    raw = read_mapping(SPEC, "the own study's spec", "a study spec")
    raw["name"] = name = f"own-{size}"
    raw["run"]["data"]["train_subset"] = size
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return name, path


def _trial_phases(folder: Path) -> list[dict]:
    return [json.loads(x) for f in sorted(folder.glob("*.jsonl")) for x in f.read_text().splitlines() if x.strip()]


def console_phases(lines: list[list]) -> dict[str, float]:
    """Seconds before the first epoch began (its line's time less its ``s/epoch``: Python, Ray, MLflow, the first
    workers and their data), from then to the last trial line, and in the answer's reading."""
    t_line, line = next((t, x) for t, x in lines if x.startswith("trial-"))
    epoch = re.search(r"([\d.]+) s/epoch", line)
    first = t_line - (float(epoch[1]) if epoch else 0.0)
    last = max(t for t, x in lines if x.startswith(("trial-", "…")))
    start = next((t for t, x in lines if x.startswith("the study's answer:")), None)
    end = max((t for t, x in lines if x.startswith(("trial ", "  trial "))), default=start)
    out = {"start_up_s": first, "trials_s": last - first}
    if start is not None:
        out["answer_s"] = end - start
    return out


def slot_shares(wall_s: float, slots: int, trials: list[dict]) -> dict[str, float]:
    """Sums over trials of each kind of work, as shares of the study's slot-seconds (wall x trials at a time)."""
    sums = dict.fromkeys(SLOTS_PHASES, 0.0)
    for t in trials:
        ph = t["phases"]
        sums["training"] += ph.get("training", 0.0)
        sums["validation"] += ph.get("epoch", 0.0) - ph.get("training", 0.0)
        sums["trial_test"] += ph.get("final_eval", 0.0)
        sums["trial_other"] += sum(v for k, v in ph.items() if k not in ("training", "epoch", "final_eval"))
    total = wall_s * slots
    out = {k: v / total for k, v in sums.items()}
    out["outside_trials"] = 1.0 - sum(out.values())
    return out


def run_size(size: int, data_dir: str, autoattack: bool) -> dict:
    import console_clock

    with tempfile.TemporaryDirectory(prefix="own_study-") as tmp:
        tmp = Path(tmp)
        name, spec = _spec_for(size, tmp)
        timing = tmp / "timing"
        env = {"STUDY_DATA_DIR": data_dir, "STUDY_TRIAL_TIMING": str(timing)}
        clocked = console_clock.run([str(STUDY), "run", str(spec), "--workspace", str(tmp / "ws")], env=env,
                                    cwd=str(REPO), echo=True)
        if clocked.returncode:
            raise SystemExit(f"`study run` failed for train_subset {size} (exit {clocked.returncode})")
        gap, at, line = clocked.longest_silence
        row = {"train_subset": size, "wall_s": clocked.wall_s, "longest_silence_s": gap,
               "silence_ended_by": line.strip()[:160], "lines": [[round(t, 2), x] for t, x in clocked.lines],
               "trials": _trial_phases(timing)}
        if autoattack:
            ev = console_clock.run([str(STUDY), "evaluate", name, "--top", "1", "--again", "--workspace", str(tmp / "ws")],
                                   env=env, cwd=str(REPO), echo=True)
            row["evaluate_autoattack"] = {"wall_s": ev.wall_s, "returncode": ev.returncode,
                                          "lines": [[round(t, 2), x] for t, x in ev.lines]}
    return row


def _aa_seconds(ev: dict) -> Optional[float]:
    hits = [float(m[1]) for _, x in ev["lines"] for m in [re.search(r"AutoAttack.*: [\d.]+% \(([\d.]+) s\)", x)] if m]
    return hits[-1] if hits else None


def per_trial(trials: list[dict], epochs: int) -> dict[str, float]:
    """Mean seconds per epoch of training proper and of validation, and per trial of its test reading."""
    n = max(len(trials), 1)
    tr = sum(t["phases"].get("training", 0.0) for t in trials) / n / epochs
    ep = sum(t["phases"].get("epoch", 0.0) for t in trials) / n / epochs
    return {"train_epoch_s": tr, "val_epoch_s": ep - tr,
            "test_trial_s": sum(t["phases"].get("final_eval", 0.0) for t in trials) / n}


def markdown(doc: dict) -> str:
    """The table of an own_study.json (bench/README.md re-prints it, no training)."""
    slots, epochs = doc["args"]["slots"], doc["args"]["epochs"]
    head = ("| training images | wall (s) | longest silence (s) | start-up (s) | trials (s) | answer's reading (s) "
            "| training / epoch (s) | validation / epoch (s) | test / trial (s) "
            "| training | validation | trials' test | rest of trials | outside trials |")
    lines = [head, "|" + "---|" * 14]
    for r in sorted(doc["rows"], key=lambda r: r["train_subset"]):
        c = console_phases(r["lines"])
        s = slot_shares(r["wall_s"], slots, r["trials"])
        t = per_trial(r["trials"], epochs)
        lines.append(f"| {r['train_subset']:,} | {r['wall_s']:.1f} | {r['longest_silence_s']:.1f} | "
                     f"{c['start_up_s']:.1f} | {c['trials_s']:.1f} | {c.get('answer_s', float('nan')):.1f} | "
                     f"{t['train_epoch_s']:.2f} | {t['val_epoch_s']:.2f} | {t['test_trial_s']:.2f} | "
                     + " | ".join(f"{100 * s[k]:.0f} %" for k in (*SLOTS_PHASES, "outside_trials")) + " |")
    lines.append("")
    for size in sorted({r["train_subset"] for r in doc["rows"]}):
        shares = [slot_shares(r["wall_s"], slots, r["trials"]) for r in doc["rows"] if r["train_subset"] == size]
        walls = [r["wall_s"] for r in doc["rows"] if r["train_subset"] == size]
        train = [100 * x["training"] for x in shares]
        epochs_ = [100 * (x["training"] + x["validation"]) for x in shares]
        lines.append(f"- {size:,} training images, {len(shares)} run(s): wall {min(walls):.0f}–{max(walls):.0f} s; "
                     f"training {min(train):.0f}–{max(train):.0f} % of the slot-seconds, the trials' epochs (training and "
                     f"the per-epoch validation that selects the checkpoint) {min(epochs_):.0f}–{max(epochs_):.0f} %.")
    aa = [(r["train_subset"], r["evaluate_autoattack"]) for r in doc["rows"] if r.get("evaluate_autoattack")]
    for size, ev in aa:
        secs = _aa_seconds(ev)
        lines.append("")
        lines.append(f"`study evaluate own-{size} --top 1 --again` (clean, PGD-50x10 and AutoAttack standard on the "
                     f"1,000 test images): {ev['wall_s']:.1f} s wall"
                     + (f", of which AutoAttack {secs:.1f} s" if secs is not None else "") + ".")
    lines.append("")
    lines.append(f"Shares are of the study's slot-seconds (wall × {slots} trials at a time); {doc['machine']}, "
                 f"commit {doc['commit'][:7]}.")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train-subsets", default="1000,10000,59000",
                   help="comma-separated run.data.train_subset sizes (59,000: all of Fashion-MNIST's training images but the 1,000 validation images)")
    p.add_argument("--repeats", type=int, default=1, help="runs per size (each a fresh study, Ray and workspace)")
    p.add_argument("--append", action="store_true", help="add the runs to --results' rows instead of replacing them")
    p.add_argument("--autoattack", action=argparse.BooleanOptionalAction, default=True,
                   help="also time `study evaluate --top 1` (AutoAttack standard) after the smallest size")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "out" / "own_study.json")
    p.add_argument("--replay", type=Path, default=None, help="print the table of an own_study.json and exit")
    args = p.parse_args(argv)
    if args.replay:
        print(markdown(json.loads(args.replay.read_text())))
        return 0
    data_dir = os.environ.get("STUDY_DATA_DIR")
    if not data_dir:
        raise SystemExit("set STUDY_DATA_DIR to the folder that holds FashionMNIST/ (e.g. ../shared/data)")
    sizes = [int(x) for x in args.train_subsets.split(",")]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    from study.spec.yamlio import read_mapping

    raw = read_mapping(SPEC, "the own study's spec", "a study spec")
    slots, epochs = int(raw["search"]["max_concurrent"]), int(raw["run"]["epochs"])
    t0 = time.time()
    doc = {"args": {"train_subsets": sizes, "slots": slots, "epochs": epochs, "spec": str(SPEC.relative_to(REPO))}, "commit": commit,
           "command": "STUDY_DATA_DIR=../shared/data .venv/bin/python bench/own_study.py " + " ".join(argv or sys.argv[1:]),
           "machine": f"{os.cpu_count()} CPU cores ({platform.machine()})", "rows": []}
    if args.append and args.results.is_file():
        old = json.loads(args.results.read_text())
        doc["rows"], doc["command"] = old["rows"], old["command"] + " ; then " + doc["command"]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for n in [n for n in sizes for _ in range(args.repeats)]:  # the JSON is rewritten after every size, so a cut-short run keeps what it measured
        first = not any(r["train_subset"] == n for r in doc["rows"])
        doc["rows"].append(run_size(n, str(Path(data_dir).resolve()), args.autoattack and n == min(sizes) and first))
        doc["bench_wall_s"] = time.time() - t0
        args.results.write_text(json.dumps(doc, indent=1))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
