"""Which rule stops catastrophic overfitting, judged on trials it never saw (issues 15 and 25).

Reads the traces ``bench/co_corpus.py`` wrote (run folders or packed ``bench/results/*.json.gz``, window reports
included), splits them into a calibration and a held-out part, chooses each candidate's constants on the
calibration part only (``study.judge.heldout``: highest recall with a false-alarm rate ≤
``--max-false-alarm``, then precision, lead, steps saved) and prints, for the held-out part, recall, precision,
false-alarm rate, lead in steps and epochs (collapse step − stop step), how often the rule fires before the
probe rule on the caught collapses, and the steps saved. Seconds, no training. Three splits:
- ``--split seeds`` (issue 15): by seed, ``--calibration-seeds`` (default the even ones); every setting is in both;
- ``--split settings`` (issue 25): whole settings held out, in ``--folds`` folds (each setting is held out once,
  its constants chosen on the other folds' settings; the held-out verdict sums every fold's held-out traces);
- ``--judge-on SOURCE...``: constants chosen on all of FOLDERS, judged on another regime's traces.
The rules' default constants (and the specs' fixed ones) are judged as they are, with nothing chosen.

    python bench/co_judge.py bench/out/co_corpus [more run folders] [--calibration-seeds 0,2,4,6]
    python bench/co_judge.py bench/results/answer_corpus.json.gz --split settings --folds 3 [--epochs-only]
    python bench/co_judge.py bench/results/answer_corpus.json.gz --judge-on bench/results/fa_mnist_seeds.json.gz
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.judge.calibrate import grid  # noqa: E402
from study.judge.heldout import (AttackGap, both, calibration_key, choose, combine, either, judge,  # noqa: E402
                                    replay, split_by_seed, steps_per_epoch, stop_step)
from study.stopping.rules import DeltaEnergyDivergence, ProbeCollapse  # noqa: E402
from trainables.schema import records as R  # noqa: E402


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
    # every family reads the finest series the traces hold (windows unless --epochs-only dropped them)
    "probe PGD drop": (lambda **p: ProbeCollapse(resolution="window", **p),
                       grid(drop=[0.1, 0.15, 0.2, 0.3], reference=["best", "previous"], grace_epochs=[0, 1])),
    "train adv acc − probe PGD": (lambda **p: AttackGap(**p),
                                  grid(gap=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7], grace_epochs=[0, 1])),
}
PROBE = "probe PGD drop"
WINDOW_ROW = "the probe rule at drop 0.2, window resolution"  # left out at epoch resolution: it would repeat the
# epoch-resolution row under a label that says windows
FORMER = {  # fixed constants, judged as they are: today's defaults, the specs', and the probe's before issue 15
    "the probe rule at its defaults (drop 0.2, epoch resolution)": ProbeCollapse(enabled=True),
    WINDOW_ROW: ProbeCollapse(enabled=True, resolution="window"),
    "the probe rule before issue 15 (drop 0.1, grace 1)": ProbeCollapse(enabled=True, drop=0.1, reference="best",
                                                                         grace_epochs=1, resolution="window"),
    "the ΔE rule at its defaults (k 4, w 3, p5; the quickstart's)": DeltaEnergyDivergence(enabled=True),
    "the ΔE rule of the GPU specs (k 6, w 3, grace 2)": DeltaEnergyDivergence(enabled=True, grace_epochs=2, window=3,
                                                                             threshold=6.0),
}


def load(sources: list[str]) -> list[dict]:
    """Every run of the given run folders or packed corpora (bench/traces.py), each tagged with its setting."""
    from bench import traces

    runs = []
    for source in sources:
        for r in traces.load(source):
            if "config" not in r:  # e.g. bench/fa_mnist_reference.py's runs: no validation, no windows, no rule input
                continue
            runs.append({**r, "setting": r["config"]["name"].rsplit("-s", 1)[0]})
    return runs


def prepare(runs: list[dict], epochs_only: bool) -> list[dict]:
    """Runs with window reports (what the corpus records); at epoch resolution, their epoch records only."""
    runs = [r for r in runs if any(R.is_partial(x) for x in r["records"])]
    if epochs_only:
        runs = [{**r, "records": [{k: v for k, v in x.items() if not k.startswith(R.WINDOW_PREFIX)}
                                  for x in r["records"] if not R.is_partial(x)]} for r in runs]
    return runs


def setting_folds(runs: list[dict], folds: int, seed: int = 0) -> list[set]:
    """The settings dealt into ``folds`` groups in a seeded order (each setting in exactly one)."""
    import random

    settings = sorted({r["setting"] for r in runs})
    random.Random(seed).shuffle(settings)
    return [set(settings[i::folds]) for i in range(folds)]


def held_out_stops(label, params, held):
    """One family's stops on the held-out traces at its chosen constants (the only replay of held-out data)."""
    return replay(FAMILIES[label][0], [params], held)[repr(params)][1]


def fmt(x, spec=".2f"):
    return "-" if x is None or x != x else format(x, spec)


def choose_all(cal: list[dict], max_false_alarm: float) -> tuple[dict, dict, str]:
    """Every family's constants chosen on ``cal`` (and the two composites of the best ΔE family with the probe)."""
    replayed = {label: replay(make, g, cal) for label, (make, g) in FAMILIES.items()}
    chosen = {label: choose(r, cal, max_false_alarm) for label, r in replayed.items()}
    de_best = max((k for k in chosen if k.startswith("ΔE")), key=lambda k: calibration_key(chosen[k][1], max_false_alarm))
    composites = {f"{de_best} or probe": either, f"{de_best} and probe": both}
    for label, how in composites.items():
        chosen[label] = choose(combine(replayed[de_best], replayed[PROBE], how), cal, max_false_alarm)
    return chosen, composites, de_best


def stops_on(chosen: dict, composites: dict, de_best: str, held: list[dict]) -> dict[str, list]:
    """Each chosen family's stops on ``held`` (the only replay of held-out traces), fixed rules' too."""
    out = {}
    for label, (params, _) in chosen.items():
        if label in FORMER:
            continue
        if label in composites:
            a, b = held_out_stops(de_best, params["a"], held), held_out_stops(PROBE, params["b"], held)
            out[label] = [composites[label](x, y) for x, y in zip(a, b)]
        else:
            out[label] = held_out_stops(label, params, held)
    for label, rule in FORMER.items():
        if label in chosen:
            out[label] = replay(lambda r=rule: r, [{}], held)["{}"][1]
    return out


def judgement(sources: list[str], split: str = "seeds", folds: int = 3, calibration_seeds=None, judge_on=None,
              max_false_alarm: float = 0.10, epochs_only: bool = False) -> dict:
    """Choose on the calibration part(s), judge on the held-out part(s): {"what", "rows", "chosen_per_fold", ...}."""
    runs = prepare(load(sources), epochs_only)
    if judge_on:
        held_runs = prepare(load(judge_on), epochs_only)
        splits = [(runs, held_runs)]
        what = f"chosen on {len(runs)} traces of {', '.join(sources)}; judged on {len(held_runs)} of {', '.join(judge_on)}"
    elif split == "settings":
        groups = setting_folds(runs, folds)
        splits = [([r for r in runs if r["setting"] not in f], [r for r in runs if r["setting"] in f]) for f in groups]
        what = f"{len(runs)} traces of {len({r['setting'] for r in runs})} settings in {folds} folds of whole settings"
    else:
        seeds = sorted({r["seed"] for r in runs})
        cal_seeds = calibration_seeds if calibration_seeds is not None else [s for s in seeds if s % 2 == 0]
        splits = [split_by_seed(runs, cal_seeds)]
        what = f"{len(runs)} traces; calibration seeds {cal_seeds}"
    held_all, held_stops, chosen_per_fold, cal_verdicts = [], {}, [], {}
    for cal, held in splits:
        chosen, composites, de_best = choose_all(cal, max_false_alarm)
        for label, rule in FORMER.items():  # fixed constants: nothing is chosen, the calibration part only judged
            if epochs_only and label == WINDOW_ROW:
                continue
            chosen[label] = ({}, judge(replay(lambda r=rule: r, [{}], cal)["{}"][1], cal))
        for label, stops in stops_on(chosen, composites, de_best, held).items():
            key = label.replace(de_best, "best ΔE") if label in composites else label
            held_stops.setdefault(key, []).extend(stops)
            cal_verdicts.setdefault(key, []).append(chosen[label])
        chosen_per_fold.append({k: v[0] for k, v in chosen.items()})
        held_all.extend(held)
    base = judge([None] * len(held_all), held_all)
    return {"what": what, "held_out": {"traces": len(held_all), "collapsed": base.collapsed, "healthy": base.healthy},
            "rows": rows_of(cal_verdicts, held_stops, held_all), "chosen_per_fold": chosen_per_fold,
            "split": split if not judge_on else "regimes", "traces": len(runs)}


def rows_of(cal_verdicts: dict, held_stops: dict, held: list[dict]) -> list[dict]:
    """One row per rule: its held-out verdict; ``cal_verdicts``: per rule, (constants, calibration verdict) per split."""
    probe = held_stops[PROBE]
    rows = []
    for label, stops in held_stops.items():
        v = judge(stops, held)
        caught = [(s, p) for s, p, hit in zip(stops, probe, v.caught_at) if hit]
        cvs = [cv for _, cv in cal_verdicts[label]]
        recalls = [cv.recall for cv in cvs if cv.recall == cv.recall]
        rows.append({"rule": label, "constants": [c for c, _ in cal_verdicts[label]], "held_out": v.row(),
                     "calibration_recall": statistics.mean(recalls) if recalls else float("nan"),
                     "calibration_false_alarms": statistics.mean(cv.false_alarm_rate for cv in cvs),
                     "before_probe": sum(1 for s, p in caught if p is None or s < p), "caught": len(caught)})
    return rows


def print_rows(result: dict, max_false_alarm: float) -> None:
    h = result["held_out"]
    print(f"{result['what']}: held out {h['traces']} traces, {h['collapsed']} collapses, {h['healthy']} healthy")
    print(f"\nheld out (constants chosen on the calibration part; false-alarm budget {max_false_alarm}):")
    print(f"{'rule':48} {'recall':>6} {'prec':>5} {'FA rate':>7} {'lead st':>7} {'lead ep':>7} {'before probe':>12} "
          f"{'saved':>5}   calibration recall/FA   constants")
    for r in result["rows"]:
        v, constants = r["held_out"], r["constants"]
        shown = constants[0] if all(c == constants[0] for c in constants) else constants
        print(f"{r['rule']:48} {fmt(v['recall']):>6} {fmt(v['precision']):>5} {fmt(v['false_alarm_rate']):>7} "
              f"{fmt(v['lead_steps'], '.0f'):>7} {fmt(v['lead_epochs']):>7} {r['before_probe']:>5}/{r['caught']:<6} "
              f"{v['steps_saved']:5.2f}   {fmt(r['calibration_recall'])}/{fmt(r['calibration_false_alarms'])}   {shown}")


def markdown(result: dict) -> str:
    """The held-out verdicts as bench/README.md's markdown table (bench/replay.py compares the two)."""
    h = result["held_out"]
    lines = [f"Held out: {h['traces']} traces, {h['collapsed']} collapses, {h['healthy']} healthy.", "",
             "| rule | recall (caught / collapses) | false alarms (healthy stopped / healthy) | precision | "
             "lead (epochs) | before the probe rule | steps saved | calibration recall / false alarms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        v = r["held_out"]
        lines.append(f"| {r['rule']} | {fmt(v['recall'])} ({v['caught']}/{v['collapsed']}) | "
                     f"{fmt(v['false_alarm_rate'])} ({v['false_alarms']}/{v['healthy']}) | {fmt(v['precision'])} | "
                     f"{fmt(v['lead_epochs'])} | {r['before_probe']}/{r['caught']} | {v['steps_saved']:.2f} | "
                     f"{fmt(r['calibration_recall'])} / {fmt(r['calibration_false_alarms'])} |")
    return "\n".join(lines)


def degenerate_markdown(sources: list[str], graces: tuple[int, ...] = (2, 3)) -> str:
    """What the degenerate rule (on by default) stops in a corpus, at epoch resolution, per grace: runs it stops, and
    of those how many stay a constant classifier (validation clean accuracy never more than 0.1 above chance
    afterwards) and how many go on to learn (false alarms), with their last checked reading."""
    from study.stopping.rules import Degenerate

    runs = load(sources)
    lines = ["| grace (epochs) | runs stopped | of which learned later (last `val/robust_acc`) | stayed constant |",
             "|---|---|---|---|"]
    for grace in graces:
        stopped, learned = 0, []
        for run in runs:
            recs = [r for r in run["records"] if not R.is_partial(r)]
            s = stop_step(Degenerate(grace_epochs=grace), recs)
            if s is None:
                continue
            stopped += 1
            if any(r[R.VAL_CLEAN_ACC] > r[R.VAL_CHANCE_ACC] + 0.1 for r in recs if r[R.STEP] > s):
                learned.append(recs[-1][R.VAL_ROBUST_ACC])
        shown = ", ".join(f"{100 * x:.0f} %" for x in sorted(learned)) or "–"
        default = " (default)" if grace == Degenerate().grace_epochs else ""
        lines.append(f"| {grace}{default} | {stopped} of {len(runs)} | {len(learned)} ({shown}) | {stopped - len(learned)} |")
    return "\n".join(lines)


def kept_markdown(sources: list[str]) -> str:
    """What each fixed rule does to the checkpoint a run hands over (regimes of one configuration: the answer is
    that checkpoint): runs stopped, when, and the test reading (``test/epoch/...`` at the epoch selected on
    validation among those trained before the stop) against the full run's."""
    from bench.search_replay import TEST, reselect, selected_test
    from study.stopping.rules import Degenerate

    runs = [r for r in load(sources) if any(R.is_partial(x) for x in r["records"])]
    rules = {**FORMER, "the degenerate rule at its defaults (grace 3)": Degenerate()}
    lines = [f"| rule | runs stopped (of {len(runs)}) | stopped at epoch (seed) | test reading of the kept "
             f"checkpoint: full run → stopped run (%) |", "|---|---|---|---|"]
    for label, rule in rules.items():
        stops = []
        for run in sorted(runs, key=lambda r: r["seed"]):
            recs = reselect(run["records"])
            s = stop_step(rule, recs)
            if s is None:
                continue
            cut = [x for x in recs if x[R.STEP] <= s]
            kept = selected_test(cut) if any(not R.is_partial(x) for x in cut) else None
            spe = steps_per_epoch(recs)
            stops.append((run["seed"], s / spe, selected_test(recs), kept))
        when = ", ".join(f"{e:.1f} ({seed})" for seed, e, _, _ in stops) or "–"
        kept = ", ".join(f"{100 * a:.0f} → {'–' if b is None else f'{100 * b:.0f}'}" for _, _, a, b in stops) or "–"
        lines.append(f"| {label} | {len(stops)} | {when} | {kept} |")
    return "\n".join(lines) + f"\n\n(test reading: {TEST})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="run folders or packed corpora (bench/results/*.json.gz)")
    ap.add_argument("--split", choices=["seeds", "settings"], default="seeds")
    ap.add_argument("--folds", type=int, default=3, help="--split settings: folds of whole settings")
    ap.add_argument("--calibration-seeds", default=None, type=lambda s: [int(x) for x in s.split(",")],
                    help="--split seeds: default the even seeds")
    ap.add_argument("--judge-on", nargs="+", default=None, metavar="SOURCE",
                    help="choose on all of FOLDERS, judge on these traces (another regime)")
    ap.add_argument("--max-false-alarm", type=float, default=0.10)
    ap.add_argument("--epochs-only", action="store_true",
                    help="replay at epoch resolution: drop the window reports and window/... readings")
    ap.add_argument("--markdown", action="store_true", help="print bench/README.md's markdown table")
    ap.add_argument("--out", default=None, help="default bench/out/co_judge[_epochs].json")
    args = ap.parse_args(argv)
    args.out = args.out or str(Path(__file__).parent / "out" / f"co_judge{'_epochs' if args.epochs_only else ''}.json")
    t0 = time.perf_counter()
    result = judgement(args.folders, args.split, args.folds, args.calibration_seeds, args.judge_on,
                       args.max_false_alarm, args.epochs_only)
    print(markdown(result)) if args.markdown else print_rows(result, args.max_false_alarm)
    out = {"command": "python bench/co_judge.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           **result, "wall_s": time.perf_counter() - t0}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"\n{time.perf_counter() - t0:.0f} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
