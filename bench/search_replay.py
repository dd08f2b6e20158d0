"""A study's answer, measured: the platform's search replayed on recorded traces (a tabular benchmark, as
HPOBench and LCBench do).

A corpus (bench/co_corpus.py with ``--epoch-test-pgd``) is a table (configuration, seed) -> per-epoch (and
per-window) readings, a test reading of every epoch's weights included. For each sampler (TPE, random, grid)
and each stopping policy, ``--reps`` studies are replayed through the platform's own parts, exactly as
``study run`` wires them (study.run.engine): the spec's policy and ASHA from ``study.kinds`` inside the
``DivergenceScheduler``, which writes its stop reasons into the result it judges, and
``StudySearch`` telling Optuna (``study.stopping.outcome``); a trial's seed is a run of that configuration drawn
from the table, its results fed one by one until the scheduler stops it or its last epoch. The study's answer
is what ``study export --top 1`` would return. Trials run one at a time (max_concurrent 1).

Per row, over the repetitions (20 by default, each with its own sampler seed and seed draws; the rows of one
sampler share them, so rules are compared pair by pair):
- regret: test robust accuracy of the answer's configuration (the mean over all its seeds in the table of the
  test reading at the epoch selected on validation over a full run: what retraining it gives) below the
  table's best configuration's, in points; and how often the answer is the table's best;
- kept: the test reading of the checkpoints the study itself hands over (the answer's seeds, as stopped);
- trial-epochs spent, and as a share of the same sampler's search with no rule and of random search with none;
- changed: repetitions in which the rule changed the answer against the same sampler without it.

The trainer's selection rule is applied to every epoch (the highest ``val/robust_acc`` so far, earliest on a
tie: ``Trainer._update_best``), so traces recorded before a selection change replay under today's rule.

    python bench/search_replay.py bench/results/answer_corpus.json.gz [--num-samples 9] [--seeds 1] [--reps 20]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import traces  # noqa: E402
from bench.epoch_test import key as epoch_test_key  # noqa: E402
from trainables.schema import records as R  # noqa: E402

PARAMS = ("method.name", "method.epsilon", "der.weight")  # what the answer corpus varies
TEST = epoch_test_key(20)  # test/epoch/pgd20x1_acc

# The stopping policies compared, as spec fragments over NONE (every rule off: NaN is always stopped); "defaults"
# is what a spec that says nothing gets (study/stopping/rules.py: the probe and the degenerate rule on).
NONE = {"delta_energy": {"enabled": False}, "probe": {"enabled": False}, "degenerate": {"enabled": False}}
DEFAULTS = {"probe": {"enabled": True}, "degenerate": {"enabled": True}}
DELTA_QUICKSTART = {"enabled": True}  # search_spaces/quickstart.yaml: the rule's class defaults
POLICIES = {
    "no rules": {},
    "degenerate only": {"degenerate": {"enabled": True}},
    "probe only (drop 0.2)": {"probe": {"enabled": True}},
    "defaults": DEFAULTS,
    "defaults, probe drop 0.1": {**DEFAULTS, "probe": {"enabled": True, "drop": 0.1}},
    "defaults + ΔE (quickstart)": {**DEFAULTS, "delta_energy": DELTA_QUICKSTART},
    "defaults + ASHA (grace 2, η 3)": {**DEFAULTS, "asha": {"enabled": True}},
    "ASHA only": {"asha": {"enabled": True}},
}
BASE = "no rules"


def config_key(params: dict) -> tuple:
    return tuple(params[p] for p in PARAMS)


def run_params(run: dict) -> dict:
    c = run["config"]
    return {"method.name": c["method"]["name"], "method.epsilon": c["method"]["epsilon"],
            "der.weight": c["der"]["weight"]}


def reselect(records: list[dict]) -> list[dict]:
    """The records with ``best/*`` recomputed by today's selection rule (highest val/robust_acc so far, earliest
    on a tie, flagged or not), so the searcher reads the objective today's trainer would report."""
    out, best = [], None
    for r in records:
        r = dict(r)
        if not R.is_partial(r):
            v = r.get(R.VAL_ROBUST_ACC)
            if v is not None and math.isfinite(v) and (best is None or v > best[R.VAL_ROBUST_ACC]):
                best = r
            if best is not None:
                r.update({R.BEST_EPOCH: float(best[R.EPOCH]), R.BEST_VAL_ROBUST: best[R.VAL_ROBUST_ACC],
                          R.BEST_VAL_PGD: best[R.VAL_PGD_ACC], R.BEST_MASKED: float(bool(best.get(R.VAL_MASKED)))})
        out.append(r)
    return out


def selected_test(records: list[dict]) -> Optional[float]:
    """The test reading of the checkpoint a run (as far as it went) hands over: its last best/epoch's weights."""
    epochs = {int(r[R.EPOCH]): r for r in records if not R.is_partial(r)}
    last = [r for r in records if not R.is_partial(r) and R.BEST_EPOCH in r]
    if not last:
        return None
    return epochs[int(last[-1][R.BEST_EPOCH])].get(TEST)


@dataclass
class Table:
    configs: dict  # key -> [runs], each run's records reselected
    epochs: int
    quality: dict = field(default_factory=dict)  # key -> mean test reading at the full run's selected epoch

    @classmethod
    def load(cls, source: str, windows: bool, where: Optional[dict] = None) -> "Table":
        configs: dict = {}
        runs = [r for r in traces.load(source)
                if all(str(run_params(r)[p]) == v for p, v in (where or {}).items())]
        for run in runs:
            recs = run["records"] if windows else [{k: v for k, v in r.items() if not k.startswith(R.WINDOW_PREFIX)}
                                                   for r in run["records"] if not R.is_partial(r)]
            configs.setdefault(config_key(run_params(run)), []).append({**run, "records": reselect(recs)})
        epochs = max(int(r[R.EPOCH]) for rs in configs.values() for run in rs for r in run["records"])
        t = cls(configs, epochs)
        grid = math.prod(len(v) for v in t.choices().values())
        if grid != len(configs):
            raise SystemExit(f"{source}: {len(configs)} configurations, not the full grid of {grid} a search over "
                             f"{', '.join(PARAMS)} can propose; record the missing ones or narrow with --where")
        for k, rs in configs.items():
            xs = [selected_test(run["records"]) for run in rs]
            t.quality[k] = statistics.mean(x for x in xs if x is not None)
        return t

    def describe(self) -> str:
        """The table in one paragraph: its size and its best configurations."""
        q = sorted(self.quality.items(), key=lambda kv: -kv[1])
        sizes = sorted({len(rs) for rs in self.configs.values()})
        show = lambda k: f"{k[0]} ε {k[1]:g} λ {k[2]:g}"  # noqa: E731
        return (f"Table: {len(self.configs)} configurations × {'–'.join(map(str, sizes))} seeds, {self.epochs} epochs; "
                f"a configuration's test figure is the mean over its seeds of {TEST} at the epoch selected on "
                f"validation over the full run. Best: " + ", ".join(f"{show(k)} {100 * v:.1f}" for k, v in q[:3])
                + f"; median {100 * statistics.median(self.quality.values()):.1f}.")

    @property
    def best(self) -> tuple:
        return max(self.quality, key=self.quality.get)

    def choices(self) -> dict:
        return {p: sorted({k[i] for k in self.configs}, key=str) for i, p in enumerate(PARAMS)}


def study_spec(table: Table, sampler: str, num_samples: int, seeds: int, seed: int, stopping: dict):
    """The StudySpec a researcher would write for this table (validated by the platform's own spec)."""
    from study.spec.spec import StudySpec

    merged = {k: {**NONE.get(k, {}), **stopping.get(k, {})} for k in {*NONE, *stopping}}
    return StudySpec.model_validate({
        "run": {"data": {"name": "mnist"}, "model": {"name": "small_cnn"}, "method": {"name": "fgsm", "epsilon": 56},
                "eval": {"epsilon": 56}, "epochs": table.epochs},
        "search": {"parameters": {p: {"distribution": "choice", "values": v} for p, v in table.choices().items()},
                   "num_samples": num_samples, "seeds": seeds, "sampler": sampler, "seed": seed},
        "stopping": merged,
    })


@dataclass
class Replayed:
    answer: Optional[tuple]
    regret: Optional[float]
    kept: Optional[float]
    trial_epochs: float
    stopped: int
    pruned: int


def replay_study(table: Table, spec, rep: int, tag: str) -> Replayed:
    """One study: the platform's searcher and scheduler over runs drawn from the table."""
    import optuna

    from study.results.export import select_trials
    from study.kinds import KINDS
    from study.search.search import StudySearch, build_sampler, build_space
    from study.stopping.scheduler import DivergenceScheduler
    from ray.tune.schedulers import TrialScheduler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    se = spec.search
    storage = optuna.storages.InMemoryStorage()
    searcher = StudySearch(space=build_space(se.parameters), metric=se.metrics[0], mode=se.modes[0],
                           sampler=build_sampler(se), study_name=tag, storage=storage, seeds=se.seeds)
    policy, watched, inner = KINDS["train"].stopping(spec)
    scheduler = DivergenceScheduler(policy, watched, inner)
    draws = random.Random(rep)
    left = {k: draws.sample(rs, len(rs)) for k, rs in table.configs.items()}  # each config's runs in drawn order
    used: dict = {}
    seen: dict = {}  # trial id -> the records its trial saw
    epochs_spent, stopped = 0.0, 0
    for i in range(se.num_samples * se.seeds):
        tid = f"{tag}-{i}"
        params = searcher.suggest(tid)
        k = config_key(params)
        pool = left[k]
        run = pool[used.get(k, 0) % len(pool)]  # a configuration proposed again takes its next seed
        used[k] = used.get(k, 0) + 1
        trial = SimpleNamespace(trial_id=tid, config={"run": {"epochs": table.epochs}}, local_path="")
        scheduler.on_trial_add(None, trial)
        result: dict = {}
        for it, rec in enumerate(run["records"], 1):
            result = {**rec, "training_iteration": it}  # Ray counts every report
            decision = scheduler.on_trial_result(None, trial, result)  # writes a stop into the result it judges
            searcher.on_trial_result(tid, result)
            if decision == TrialScheduler.STOP:
                break
        scheduler.on_trial_complete(None, trial, result)
        searcher.on_trial_complete(tid, result)
        epochs_spent += float(result[R.EPOCH])
        stopped += bool(result.get(R.STOP_REASON))
        seen[tid] = run["records"][:_upto(run["records"], result)]
    study = optuna.load_study(study_name=tag, storage=storage)
    pruned = sum(t.state.name == "PRUNED" for t in study.trials)
    try:
        chosen = select_trials(study, spec, top=1).trials[0]
    except Exception:  # noqa: BLE001 - no COMPLETE trial: the study has no answer
        return Replayed(None, None, None, epochs_spent, stopped, pruned)
    k = config_key(chosen.params)
    kept = [x for x in (selected_test(seen[t]) for t in chosen.user_attrs["ray_trial_ids"]) if x is not None]
    return Replayed(k, 100 * (table.quality[table.best] - table.quality[k]),
                    100 * statistics.mean(kept) if kept else None, epochs_spent, stopped, pruned)


def _upto(records: list[dict], last: dict) -> int:
    """How many of a run's records the trial saw before it ended on ``last``."""
    for i, r in enumerate(records):
        if r[R.STEP] == last[R.STEP] and bool(R.is_partial(r)) == bool(R.is_partial(last)):
            return i + 1
    return len(records)


def ci95(xs: list[float]) -> tuple[float, float]:
    """Mean ± a t-based 95 % half-width (1.96 for large n; 2.09 at 20)."""
    m = statistics.mean(xs)
    if len(xs) < 2:
        return m, float("nan")
    t = {5: 2.78, 10: 2.26, 20: 2.09, 30: 2.05}.get(len(xs), 1.96 if len(xs) > 30 else 2.2)
    return m, t * statistics.stdev(xs) / math.sqrt(len(xs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", help="a packed corpus (bench/results/*.json.gz) or a folder of run files")
    ap.add_argument("--samplers", default="random,tpe,grid", help="random first: every row's trial-epochs are also "
                    "compared with random search's without rules")
    ap.add_argument("--policies", default="all", help=f"';'-separated, of: {'; '.join(POLICIES)}")
    ap.add_argument("--num-samples", type=int, default=9)
    ap.add_argument("--seeds", type=int, default=1, help="seeds per configuration (search.seeds)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--windows", action="store_true", help="replay the window reports too (eval.report_every)")
    ap.add_argument("--where", default=None, type=lambda s: dict(x.split("=", 1) for x in s.split(",")),
                    help="only the runs whose parameters match, e.g. method.name=fgsm")
    ap.add_argument("--out", default=None, help="JSON of every row (default bench/out/search_replay.json)")
    ap.add_argument("--markdown", action="store_true", help="print the rows as bench/README.md's markdown table")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    table = Table.load(args.table, args.windows, args.where)
    names = list(POLICIES) if args.policies == "all" else [p.strip() for p in args.policies.split(";")]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        ap.error(f"unknown policy {unknown[0]!r}; known: {'; '.join(POLICIES)}")
    if BASE not in names:
        names.insert(0, BASE)  # every row is compared with its sampler's search without rules
    print(table.describe())
    print(f"{args.reps} studies per row, {args.num_samples} configurations x {args.seeds} seed(s) each, one trial at a "
          f"time; regret and kept in points of test accuracy (mean ± 95 % half-width over the studies)")
    on_row = None if args.markdown else (lambda row, first: print_row(row, header=first))
    rows = replay_rows(table, args.samplers.split(","), names, args.num_samples, args.seeds, args.reps, on_row)
    if args.markdown:
        print(markdown(rows))
    out = Path(args.out or Path(__file__).parent / "out" / "search_replay.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python bench/search_replay.py " + " ".join(argv or sys.argv[1:]),
                               "rows": rows}, indent=1, default=str))
    print(f"\n{time.perf_counter() - t0:.0f} s; rows written to {out}")
    return 0


def replay_rows(table: Table, samplers: list[str], names: list[str], num_samples: int, seeds: int, reps: int,
                on_row=None) -> list[dict]:
    """Every (sampler, policy) row over ``reps`` replayed studies; ``on_row(row, first)`` as each is done."""
    rows: list[dict] = []
    base: dict = {}
    for sampler in samplers:
        for name in names:
            results = [replay_study(table, study_spec(table, sampler, num_samples, seeds, rep, POLICIES[name]), rep,
                                    f"{sampler}-{name}-n{num_samples}-s{seeds}-{rep}") for rep in range(reps)]
            rows.append(summarize(sampler, name, results, base, table))
            if on_row:
                on_row(rows[-1], len(rows) == 1)
    return rows


def markdown(rows: list[dict]) -> str:
    """The rows as the markdown table bench/README.md shows (bench/replay.py compares the two)."""
    ci = lambda c: "–" if c is None else f"{c[0]:.1f} ± {c[1]:.1f}"  # noqa: E731
    share = lambda x: "–" if x is None else f"{x:.2f}"  # noqa: E731
    lines = ["| sampler | policy | regret (points) | regret ≤ 1 | found the best | test of the kept checkpoints (%) | "
             "trial-epochs | share of no rules / of random, no rules | stopped / pruned per study | answer changed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        n = r["answered"]
        lines.append(f"| {r['sampler']} | {r['policy']} | {ci(r['regret'])} | {r['regret_le_1']}/{n} | "
                     f"{r['best_found']}/{n} | {ci(r['kept'])} | {r['trial_epochs']:.1f} | "
                     f"{share(r['vs_sampler_none'])} / {share(r['vs_random_none'])} | {r['stopped']:.1f} / "
                     f"{r['pruned']:.1f} | {'–' if r['changed'] is None else r['changed']}/{r['reps']} |")
    return "\n".join(lines)


def summarize(sampler: str, name: str, results: list[Replayed], base: dict, table: Table) -> dict:
    answered = [r for r in results if r.answer is not None]
    regret = [r.regret for r in answered]
    kept = [r.kept for r in answered if r.kept is not None]
    spent = [r.trial_epochs for r in results]
    if name == BASE:
        base[sampler] = results
    ref = base.get(sampler)
    changed = sum(a.answer != b.answer for a, b in zip(results, ref)) if ref else None
    random_none = base.get("random")
    row = {"sampler": sampler, "policy": name, "reps": len(results), "answered": len(answered),
           "regret": ci95(regret) if regret else None, "regret_le_1": sum(x <= 1.0 for x in regret),
           "best_found": sum(r.answer == table.best for r in answered),
           "kept": ci95(kept) if kept else None, "trial_epochs": statistics.mean(spent),
           "vs_sampler_none": statistics.mean(spent) / statistics.mean(x.trial_epochs for x in ref) if ref else None,
           "vs_random_none": statistics.mean(spent) / statistics.mean(x.trial_epochs for x in random_none)
           if random_none else None,
           "stopped": statistics.mean(r.stopped for r in results), "pruned": statistics.mean(r.pruned for r in results),
           "changed": changed}
    return row


def print_row(row: dict, header: bool) -> None:
    if header:
        print(f"\n{'sampler':7} {'policy':30} {'regret (pts)':>14} {'<=1':>5} {'best':>5} {'kept test':>12} "
              f"{'trial-ep':>8} {'/no rule':>8} {'/rand':>6} {'stopped':>7} {'pruned':>6} {'changed':>7}")
    fmt = lambda ci: "-" if ci is None else f"{ci[0]:5.2f} ± {ci[1]:4.2f}"  # noqa: E731
    share = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    n = row["answered"]
    print(f"{row['sampler']:7} {row['policy']:30} {fmt(row['regret']):>14} {row['regret_le_1']:>2}/{n:<2} "
          f"{row['best_found']:>2}/{n:<2} {fmt(row['kept']):>12} {row['trial_epochs']:8.1f} {share(row['vs_sampler_none']):>8} "
          f"{share(row['vs_random_none']):>6} {row['stopped']:7.1f} {row['pruned']:6.1f} "
          f"{'-' if row['changed'] is None else row['changed']:>7}")


if __name__ == "__main__":
    sys.exit(main())
