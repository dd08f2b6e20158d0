"""Tables of ``bench/ro_study.py``: robust overfitting per cell, ΔE around its onset, final test figures.

Pure Python over the saved traces (a list of runs, each with per-epoch flat records), so the tables can
be printed again from ``bench/out/ro_study/*.json`` without training. Definitions:

* best = the highest validation PGD-10 accuracy over the epochs, at the *best epoch*; last = the last
  epoch's; gap = best − last (per seed, then mean ± sample std over seeds). best-robust = the same on the
  masking-checked ``val/robust_acc``.
* the decay epoch = the last epoch trained at the peak learning rate (×0.1 from the next one on).
* ΔE statistic S moves at epoch t (t after the decay) when |S_t − median(pre)| > K · max(1.4826·MAD(pre),
  FLOOR), pre = the ``PRE`` epochs before the decay (inclusive); "first move" = the first such epoch, and it
  is compared with the best epoch (the RO onset: validation PGD falls after it).
* drift = S(last) − S(decay epoch); corr = Pearson correlation over the epochs after the decay between S and
  the validation PGD accuracy (per seed, then the mean).
"""
from __future__ import annotations

import math
import statistics
from typing import Optional

from trainables.schema import records as R

PRE, K, FLOOR = 5, 3.0, 0.01
STATS = [("train", "delta_mean"), ("train", "delta_p5"), ("train", "delta_p50"), ("train", "delta_std"),
         ("train", "joint_delta_mean"), ("probe", "delta_mean"), ("probe", "delta_p5"), ("probe", "delta_std"),
         ("val", "delta_mean"), ("val", "delta_p5"), ("val", "delta_std")]


def describe(rec: dict) -> str:
    g = lambda k: rec.get(k, float("nan"))  # noqa: E731
    return (f"ep {rec['epoch']:>2} lr {g(R.LR):.3g}: train adv {g(R.TRAIN_ADV_ACC):.3f} val clean {g(R.VAL_CLEAN_ACC):.3f} "
            f"pgd {g(R.VAL_PGD_ACC):.3f} robust {g(R.VAL_ROBUST_ACC):.3f} | dE train {g(R.TRAIN_DELTA_MEAN):+.3f} "
            f"[p5 {g(R.energy_key('train', 'delta_p5')):+.2f}] probe {g(R.PROBE_DELTA_MEAN):+.3f} "
            f"val {g(R.VAL_DELTA_MEAN):+.3f} [{g(R.TIME_EPOCH):.0f} s]")


def ms(xs: list[float]) -> tuple[float, float]:
    """Mean and sample std (0 for one value; nan for none)."""
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return float("nan"), float("nan")
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(m: float, s: float, pct: bool = True) -> str:
    if pct:
        return f"{100 * m:.1f} ± {100 * s:.1f}"
    return f"{m:+.3f} ± {s:.3f}"


def decay_epoch(records: list[dict]) -> int:
    """The last epoch whose lr is the run's peak lr (1-based)."""
    peak = max(r[R.LR] for r in records)
    return max(r["epoch"] for r in records if r[R.LR] >= peak * 0.999)


def run_figures(records: list[dict]) -> dict:
    pgd = [r[R.VAL_PGD_ACC] for r in records]
    rob = [r.get(R.VAL_ROBUST_ACC, r[R.VAL_PGD_ACC]) for r in records]
    b = max(range(len(pgd)), key=lambda i: (pgd[i], -i))
    br = max(range(len(rob)), key=lambda i: (rob[i], -i))
    last = records[-1]
    return {"best": pgd[b], "last": pgd[-1], "gap": pgd[b] - pgd[-1], "best_epoch": b + 1,
            "best_robust": rob[br], "last_robust": rob[-1], "gap_robust": rob[br] - rob[-1],
            "clean_best": records[b][R.VAL_CLEAN_ACC], "clean_last": last[R.VAL_CLEAN_ACC],
            "train_adv_best": records[b][R.TRAIN_ADV_ACC], "train_adv_last": last[R.TRAIN_ADV_ACC],
            "decay": decay_epoch(records), "epochs": len(records), "chance": last.get(R.VAL_CHANCE_ACC),
            "masked_epochs": sum(bool(r.get(R.VAL_MASKED)) for r in records)}


def cell_table(results: list[dict]) -> list[dict]:
    """One row per (dataset, cell): mean ± std over seeds of the RO figures."""
    rows = []
    for ds, cell in dict.fromkeys((r["dataset"], r["cell"]) for r in results):
        figs = [run_figures(r["records"]) for r in results if (r["dataset"], r["cell"]) == (ds, cell)]
        row = {"dataset": ds, "cell": cell, "seeds": len(figs), "decay": figs[0]["decay"], "epochs": figs[0]["epochs"],
               "best_epochs": [f["best_epoch"] for f in figs],
               "degenerate": sum(f["clean_last"] <= (f["chance"] or 0) + 0.02 for f in figs)}
        for k in ("best", "last", "gap", "best_robust", "last_robust", "gap_robust", "clean_best", "clean_last",
                  "train_adv_best", "train_adv_last"):
            row[k + "_mean"], row[k + "_std"] = ms([f[k] for f in figs])
        rows.append(row)
    return rows


def print_cell_table(rows: list[dict]) -> None:
    print("\n| dataset | cell | seeds | best val PGD | best epoch (decay at) | last val PGD | gap | gap (robust) "
          "| clean best / last | train adv acc best / last |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in rows:
        deg = f" ({w['degenerate']} degenerate)" if w["degenerate"] else ""
        print(f"| {w['dataset']} | {w['cell']} | {w['seeds']}{deg} | {fmt(w['best_mean'], w['best_std'])} "
              f"| {','.join(map(str, w['best_epochs']))} ({w['decay']}) | {fmt(w['last_mean'], w['last_std'])} "
              f"| **{fmt(w['gap_mean'], w['gap_std'])}** | {fmt(w['gap_robust_mean'], w['gap_robust_std'])} "
              f"| {100 * w['clean_best_mean']:.1f} / {100 * w['clean_last_mean']:.1f} "
              f"| {100 * w['train_adv_best_mean']:.1f} / {100 * w['train_adv_last_mean']:.1f} |")


def _series(records: list[dict], split: str, stat: str) -> list[float]:
    return [r.get(R.energy_key(split, stat), float("nan")) for r in records]


def first_move(xs: list[float], decay: int) -> Optional[int]:
    """The first epoch after ``decay`` whose value leaves the ``PRE`` epochs up to the decay (see module doc)."""
    pre = [x for x in xs[max(0, decay - PRE):decay] if math.isfinite(x)]
    if len(pre) < 2:
        return None
    med = statistics.median(pre)
    scale = max(1.4826 * statistics.median(abs(x - med) for x in pre), FLOOR)
    for t in range(decay, len(xs)):
        if math.isfinite(xs[t]) and abs(xs[t] - med) > K * scale:
            return t + 1
    return None


def _corr(a: list[float], b: list[float]) -> float:
    pairs = [(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 3:
        return float("nan")
    xs, ys = zip(*pairs)
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return float("nan")


def energy_rows(results: list[dict]) -> list[dict]:
    """Per (dataset, cell, statistic): ΔE before the decay, at the best epoch, at the last; drift; first move
    relative to the best epoch; correlation with validation PGD after the decay."""
    rows = []
    for ds, cell in dict.fromkeys((r["dataset"], r["cell"]) for r in results):
        runs = [r["records"] for r in results if (r["dataset"], r["cell"]) == (ds, cell)]
        for split, stat in STATS:
            per = []
            for recs in runs:
                xs, d = _series(recs, split, stat), decay_epoch(recs)
                f = run_figures(recs)
                pgd = [r[R.VAL_PGD_ACC] for r in recs]
                mv = first_move(xs, d)
                per.append({"pre": xs[d - 1], "best": xs[f["best_epoch"] - 1], "last": xs[-1], "drift": xs[-1] - xs[d - 1],
                            "lead": None if mv is None else f["best_epoch"] - mv, "move": mv,
                            "corr": _corr(xs[d:], pgd[d:])})
            row = {"dataset": ds, "cell": cell, "stat": f"{split}/{stat}",
                   "moves": [p["move"] for p in per], "leads": [p["lead"] for p in per]}
            for k in ("pre", "best", "last", "drift", "corr"):
                row[k + "_mean"], row[k + "_std"] = ms([p[k] for p in per])
            rows.append(row)
    return rows


def print_energy_table(rows: list[dict], cells: Optional[set[str]] = None) -> None:
    print(f"\n| dataset | cell | ΔE statistic | at decay | at best epoch | last | drift (last − decay) "
          f"| first move (epoch; best − move) | corr with val PGD after decay |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w in rows:
        if cells and w["cell"] not in cells:
            continue
        mv = ",".join("–" if m is None else str(m) for m in w["moves"])
        ld = ",".join("–" if x is None else f"{x:+d}" for x in w["leads"])
        print(f"| {w['dataset']} | {w['cell']} | {w['stat']} | {fmt(w['pre_mean'], w['pre_std'], False)} "
              f"| {fmt(w['best_mean'], w['best_std'], False)} | {fmt(w['last_mean'], w['last_std'], False)} "
              f"| {fmt(w['drift_mean'], w['drift_std'], False)} | {mv} ({ld}) | {w['corr_mean']:+.2f} ± {w['corr_std']:.2f} |")


def print_trace(results: list[dict], ds: str, cell: str, every: int = 2) -> None:
    """The seed-mean per-epoch trace of one cell (every ``every``-th epoch, and the last)."""
    runs = [r["records"] for r in results if (r["dataset"], r["cell"]) == (ds, cell)]
    if not runs:
        return
    keys = [(R.LR, "lr"), (R.TRAIN_ADV_ACC, "train adv"), (R.VAL_CLEAN_ACC, "val clean"), (R.VAL_PGD_ACC, "val PGD"),
            (R.TRAIN_DELTA_MEAN, "ΔE train mean"), (R.energy_key("train", "delta_p5"), "ΔE train p5"),
            (R.PROBE_DELTA_MEAN, "ΔE probe mean"), (R.VAL_DELTA_MEAN, "ΔE val mean")]
    print(f"\n{ds} {cell}: seed mean per epoch ({len(runs)} seeds)\n")
    print("| epoch | " + " | ".join(n for _, n in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    n = min(len(r) for r in runs)
    for e in range(n):
        if (e + 1) % every and e != n - 1:
            continue
        vals = [statistics.mean(r[e].get(k, float("nan")) for r in runs) for k, _ in keys]
        print(f"| {e + 1} | " + " | ".join(f"{v:.3g}" if k == R.LR else f"{v:+.3f}" if "ΔE" in n_ else f"{v:.3f}"
                                           for v, (k, n_) in zip(vals, keys)) + " |")


def final_table(finals: list[dict]) -> list[dict]:
    rows = []
    for ds, cell in dict.fromkeys((r["dataset"], r["cell"]) for r in finals):
        fs = [r["final"] for r in finals if (r["dataset"], r["cell"]) == (ds, cell)]
        row = {"dataset": ds, "cell": cell, "seeds": len(fs)}
        for k in sorted({k for f in fs for k in f}):
            row[k] = ms([f.get(k) for f in fs])
        rows.append(row)
    return rows


def print_final_table(rows: list[dict]) -> None:
    pgd = sorted({k.split("/")[2] for w in rows for k in w if k.startswith("test/best/pgd")})
    print("\n| dataset | cell | checkpoint | epoch | test clean | " + " | ".join(f"test {p[:-4].upper()}" for p in pgd)
          + " | AutoAttack (standard) |")
    print("|---" * (6 + len(pgd)) + "|")
    for w in rows:
        for which in ("best", "last"):
            g = lambda m: fmt(*w.get(f"test/{which}/{m}", (float("nan"),) * 2))  # noqa: E731
            ep = f"{w['test/best/epoch'][0]:.1f}" if which == "best" and "test/best/epoch" in w else which
            print(f"| {w['dataset']} | {w['cell']} | {which} | {ep} | {g('clean_acc')} | "
                  + " | ".join(g(p) for p in pgd) + f" | {g('autoattack_acc')} |")

HEADLINE = {"train/delta_mean", "train/delta_p5", "probe/delta_mean", "val/delta_mean"}
