"""Which rule stops catastrophic overfitting, judged on trials it never saw (issue 15).

Reads the traces ``bench/co_corpus.py`` wrote (one JSON per run, window reports included), splits them by
seed (``--calibration-seeds``, default the even seeds: every setting is in both halves), chooses each
candidate's constants on the calibration half only (``study.stopping.heldout``: highest recall with a
false-alarm rate ≤ ``--max-false-alarm``, then precision, lead, steps saved) and prints, for the held-out
half, recall, precision, false-alarm rate, lead in steps and epochs (collapse step − stop step), how often
the rule fires before the probe rule on the caught collapses, and the steps saved. Seconds, no training.

    python bench/co_judge.py bench/out/co_corpus [more run folders] [--calibration-seeds 0,2,4,6]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.stopping.calibrate import grid  # noqa: E402
from study.stopping.heldout import (AttackGap, both, calibration_key, choose, combine, either, judge,  # noqa: E402
                                    replay, split_by_seed)
from study.stopping.rules import DeltaEnergyDivergence, ProbeCollapse  # noqa: E402
from trainables import records as R  # noqa: E402


def de_family(metric: str, scales=(0.02, 0.05, 0.1)):
    return lambda **p: DeltaEnergyDivergence(metric=metric, **p), grid(
        grace_epochs=[1], window=[3, 6], threshold=[3.0, 4.0, 6.0, 8.0, 12.0], min_scale=list(scales),
        rel_scale=[0.1, 0.25])


FAMILIES = {  # label -> (rule factory, grid of its constants)
    "ΔE p5 (train)": de_family(R.energy_key("train", "delta_p5")),
    "ΔE mean (train)": de_family(R.TRAIN_DELTA_MEAN),
    "ΔE spread (train std)": de_family(R.energy_key("train", "delta_std")),
    "frac_adv_lower (train)": de_family(R.energy_key("train", "frac_adv_lower")),
    "ΔE mean (probe, eval mode)": de_family(R.PROBE_DELTA_MEAN),
    "probe PGD drop": (lambda **p: ProbeCollapse(**p),
                       grid(drop=[0.1, 0.15, 0.2, 0.3], reference=["best", "previous"], grace_epochs=[0, 1])),
    "train adv acc − probe PGD": (lambda **p: AttackGap(**p),
                                  grid(gap=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7], grace_epochs=[0, 1])),
}
PROBE = "probe PGD drop"
FORMER = {  # the rules with the constants they had as defaults before this judgement (enabled by default then)
    "the former default ΔE rule (k 4, w 3, p5)": DeltaEnergyDivergence(
        enabled=True, metric=R.energy_key("train", "delta_p5"), grace_epochs=1, window=3, threshold=4.0,
        min_scale=0.1, rel_scale=0.1),
    "the former default probe rule (drop 0.1)": ProbeCollapse(enabled=True, drop=0.1, reference="best", grace_epochs=1),
}


def load(folders: list[str]) -> list[dict]:
    runs = []
    for folder in folders:
        for p in sorted(Path(folder).glob("*.json")):
            if p.name != "index.json":
                runs.append(json.loads(p.read_text()))
    return runs


def held_out_stops(label, params, held):
    """One family's stops on the held-out traces at its chosen constants (the only replay of held-out data)."""
    return replay(FAMILIES[label][0], [params], held)[repr(params)][1]


def fmt(x, spec=".2f"):
    return "-" if x is None or x != x else format(x, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--calibration-seeds", default=None, type=lambda s: [int(x) for x in s.split(",")],
                    help="default: the even seeds")
    ap.add_argument("--max-false-alarm", type=float, default=0.10)
    ap.add_argument("--epochs-only", action="store_true",
                    help="replay at epoch resolution: drop the window reports and window/... readings")
    ap.add_argument("--out", default=None, help="default bench/out/co_judge[_epochs].json")
    args = ap.parse_args(argv)
    args.out = args.out or str(Path(__file__).parent / "out" / f"co_judge{'_epochs' if args.epochs_only else ''}.json")
    t0 = time.perf_counter()
    runs = [r for r in load(args.folders) if any(R.is_partial(x) for x in r["records"])]
    if args.epochs_only:
        runs = [{**r, "records": [{k: v for k, v in x.items() if not k.startswith(R.WINDOW_PREFIX)}
                                  for x in r["records"] if not R.is_partial(x)]} for r in runs]
    seeds = sorted({r["seed"] for r in runs})
    cal_seeds = args.calibration_seeds if args.calibration_seeds is not None else [s for s in seeds if s % 2 == 0]
    cal, held = split_by_seed(runs, cal_seeds)
    base = judge([None] * len(cal), cal)
    held_base = judge([None] * len(held), held)
    print(f"{len(runs)} traces with window reports; calibration seeds {cal_seeds}: {len(cal)} traces, "
          f"{base.collapsed} collapses; held-out: {len(held)} traces, {held_base.collapsed} collapses")

    replayed = {label: replay(make, g, cal) for label, (make, g) in FAMILIES.items()}
    chosen = {label: choose(r, cal, args.max_false_alarm) for label, r in replayed.items()}
    de_best = max((k for k in chosen if k.startswith("ΔE")),
                  key=lambda k: calibration_key(chosen[k][1], args.max_false_alarm))
    composites = {f"{de_best} or probe": either, f"{de_best} and probe": both}
    for label, how in composites.items():
        chosen[label] = choose(combine(replayed[de_best], replayed[PROBE], how), cal, args.max_false_alarm)

    held_stops = {}
    for label, (params, _) in chosen.items():
        if label in composites:
            a, b = held_out_stops(de_best, params["a"], held), held_out_stops(PROBE, params["b"], held)
            held_stops[label] = [composites[label](x, y) for x, y in zip(a, b)]
        else:
            held_stops[label] = held_out_stops(label, params, held)
    for label, rule in FORMER.items():  # fixed constants: nothing is chosen, both halves are only judged
        held_stops[label] = replay(lambda r=rule: r, [{}], held)["{}"][1]
        chosen[label] = ({}, judge(replay(lambda r=rule: r, [{}], cal)["{}"][1], cal))

    rows = report(chosen, held_stops, held, args)
    out = {"command": "python bench/co_judge.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "calibration_seeds": cal_seeds, "traces": len(runs), "rows": rows, "wall_s": time.perf_counter() - t0}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"\n{time.perf_counter() - t0:.0f} s; written to {args.out}")
    return 0


def report(chosen, held_stops, held, args) -> list[dict]:
    probe = held_stops[PROBE]
    print(f"\nheld-out half (constants chosen on the calibration half; false-alarm budget {args.max_false_alarm}):")
    print(f"{'rule':40} {'recall':>6} {'prec':>5} {'FA rate':>7} {'lead st':>7} {'lead ep':>7} {'before probe':>12} "
          f"{'saved':>5}   calibration recall/FA   constants")
    rows = []
    for label, stops in held_stops.items():
        v = judge(stops, held)
        caught = [(s, p) for s, p, hit in zip(stops, probe, v.caught_at) if hit]
        before = sum(1 for s, p in caught if p is None or s < p)
        cv = chosen[label][1]
        print(f"{label:40} {fmt(v.recall):>6} {fmt(v.precision):>5} {fmt(v.false_alarm_rate):>7} "
              f"{fmt(v.lead_steps, '.0f'):>7} {fmt(v.lead_epochs):>7} {before:>5}/{len(caught):<6} "
              f"{v.steps_saved:5.2f}   {fmt(cv.recall)}/{fmt(cv.false_alarm_rate)}   {chosen[label][0]}")
        rows.append({"rule": label, "constants": chosen[label][0], "held_out": v.row(), "calibration": cv.row(),
                     "before_probe": before, "caught": len(caught)})
    return rows



if __name__ == "__main__":
    sys.exit(main())
