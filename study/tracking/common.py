"""Helpers shared by the driver and worker sides of tracking."""
from __future__ import annotations

import math
import os
import time
from typing import Any, Iterable, Optional

TRIAL_TAG = "trial_id"
STUDY_TAG = "study"
PARENT_TAG = "mlflow.parentRunId"
URI_ENV = "STUDY_MLFLOW_TRACKING_URI"  # how a password-bearing URI reaches workers (never in configs)


def client(uri: str):
    from mlflow.tracking import MlflowClient

    if "***" in uri:
        uri = os.environ.get(URI_ENV) or uri
    return MlflowClient(tracking_uri=uri)


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "pid"}


def log_metrics(cl, run_id: str, metrics: dict[str, Any], step: int, tags: Optional[dict[str, str]] = None) -> None:
    """One ``log_batch`` per epoch, tags included (per-metric calls cost ~3 ms each on SQLite)."""
    from mlflow.entities import Metric, RunTag

    ts = int(time.time() * 1000)
    batch = [Metric(k, v, ts, step) for k, v in numeric_metrics(metrics).items()]
    run_tags = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for i in range(0, len(batch), 900):
        cl.log_batch(run_id, metrics=batch[i:i + 900], tags=run_tags if i == 0 else [])
    if run_tags and not batch:
        cl.log_batch(run_id, tags=run_tags)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def log_params(cl, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        cl.log_batch(run_id, params=items[i:i + 100])


def find_run(cl, experiment_id: str, trial_id: str) -> Optional[Any]:
    runs = cl.search_runs([experiment_id], filter_string=f"tags.{TRIAL_TAG} = '{trial_id}'", max_results=2)
    return runs[0] if runs else None


def last_step(cl, run_id: str, key: str = "epoch") -> int:
    hist = cl.get_metric_history(run_id, key)
    return max((m.step for m in hist), default=0)


def finite(xs: Iterable[float]) -> list[float]:
    return [x for x in xs if isinstance(x, (int, float)) and math.isfinite(x)]
