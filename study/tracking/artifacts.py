"""Per-trial artifacts built from the run's metric histories: the energy trace CSV and a ΔE/PGD plot."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Optional

from trainables import records as R

TRACE_KEYS = [R.EPOCH, R.LR, R.LOSS_METHOD, R.LOSS_DER, R.TRAIN_CLEAN_ACC, R.TRAIN_ADV_ACC, R.VAL_CLEAN_ACC,
              R.VAL_PGD_ACC, R.VAL_ROBUST_ACC, R.VAL_MASKING_GAP, R.VAL_MASKED, R.PROBE_CLEAN_ACC, R.PROBE_PGD_ACC]
TRACE_KEYS += [R.energy_key(s, k) for s in R.TRACE_SPLITS for k in R.TRACE_STATS]


def metric_table(cl, run_id: str) -> list[dict]:
    """epoch → {metric: value} for the trace keys, from MLflow's histories."""
    rows: dict[int, dict] = {}
    for key in TRACE_KEYS:
        for m in cl.get_metric_history(run_id, key):
            rows.setdefault(m.step, {R.EPOCH: m.step})[key] = m.value
    return [rows[k] for k in sorted(rows)]


def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=TRACE_KEYS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def plot(rows: list[dict], path: Path, stop_epoch: Optional[float] = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r[R.EPOCH] for r in rows]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6, 5), sharex=True)
    key = R.TRAIN_DELTA_MEAN
    a1.plot(ep, [r.get(key) for r in rows], "o-", label="train ΔE mean")
    lo, hi = R.energy_key("train", "delta_p5"), R.energy_key("train", "delta_p95")
    if all(lo in r and hi in r for r in rows):
        a1.fill_between(ep, [r[lo] for r in rows], [r[hi] for r in rows], alpha=0.2, label="p5–p95")
    a1.axhline(0, color="grey", lw=0.5)
    a1.set_ylabel("ΔE = E(x) − E(x*)")
    a1.legend(fontsize=8)
    for k, lab in ((R.VAL_PGD_ACC, "val PGD acc"), (R.VAL_ROBUST_ACC, "val robust (masking-checked)"),
                   (R.PROBE_PGD_ACC, "probe PGD acc"), (R.VAL_CLEAN_ACC, "val clean")):
        a2.plot(ep, [r.get(k) for r in rows], "o-", label=lab)
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.legend(fontsize=8)
    if stop_epoch is not None:
        for ax in (a1, a2):
            ax.axvline(float(stop_epoch), color="red", ls="--", lw=1)
        a1.set_title(f"stopped at epoch {int(float(stop_epoch))}", fontsize=9, color="red")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def log_trial_artifacts(cl, run_id: str, stop_epoch: Optional[float] = None) -> None:
    rows = metric_table(cl, run_id)
    if not any(R.TRAIN_DELTA_MEAN in r for r in rows):  # no training epochs (e.g. a generation trial)
        return
    with tempfile.TemporaryDirectory() as d:
        cl.log_artifact(run_id, str(write_csv(rows, Path(d) / "energy_trace.csv")))
        cl.log_artifact(run_id, str(plot(rows, Path(d) / "energy_trace.png", stop_epoch)))
