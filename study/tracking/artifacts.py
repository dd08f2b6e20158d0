"""Per-trial artifacts built from the run's metric histories: the energy trace CSV and a ΔE/PGD plot.

``ArtifactWriter`` draws them on one background thread of the driver: the plot costs ~0.3-0.6 s of
matplotlib per trial on these cores, and drawn inside Ray Tune's event loop it held up every other
trial's report. A run carries the tag ``artifacts_pending`` (its stop epoch) until its files are
logged; ``drain`` waits for the thread (the end of an experiment), and ``catch_up`` draws what a
killed driver left pending (``study resume``).
"""
from __future__ import annotations

import csv
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from study.tracking.common import client
from trainables.schema import records as R

log = logging.getLogger(__name__)
PENDING_TAG = "artifacts_pending"

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
        a1.set_title(f"stopped at epoch {float(stop_epoch):g}", fontsize=9, color="red")
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


def pending_value(stop_epoch) -> str:
    """The pending tag's value: the stop epoch the plot marks, or "-" for none."""
    return "-" if stop_epoch is None else str(stop_epoch)


def _write(uri: str, run_id: str, pending: str) -> None:
    try:
        cl = client(uri)
        log_trial_artifacts(cl, run_id, stop_epoch=None if pending == "-" else float(pending))
        cl.delete_tag(run_id, PENDING_TAG)
    except Exception:  # noqa: BLE001 - a missing plot must never take the study down
        log.exception("could not log the trace artifacts of MLflow run %s", run_id)


class ArtifactWriter:
    """One background thread that logs trials' trace artifacts, in the order the trials ended."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._pool: Optional[ThreadPoolExecutor] = None

    def __getstate__(self) -> dict:  # Tune pickles its callbacks with the experiment; a thread does not pickle
        return {"uri": self.uri, "_pool": None}

    def submit(self, run_id: str, pending: str) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="trial-artifacts")
        self._pool.submit(_write, self.uri, run_id, pending)

    def drain(self) -> None:
        """Wait until every submitted run has its artifacts."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def catch_up(uri: str, experiment_id: str) -> int:
    """Log the artifacts of runs a killed driver left pending; return how many."""
    cl = client(uri)
    runs = cl.search_runs([experiment_id], filter_string=f"tags.{PENDING_TAG} LIKE '%'", max_results=50000)
    for run in runs:
        _write(uri, run.info.run_id, run.data.tags[PENDING_TAG])
    return len(runs)
