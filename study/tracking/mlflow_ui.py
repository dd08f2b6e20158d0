"""Links into the MLflow UI that open on a study's trials, not on MLflow 3's GenAI pages.

MLflow 3's UI has two modes, GenAI and model training. An experiment without a kind opens on the
GenAI overview (traces, latency: empty for us), and its runs table nests the trial runs under the
study's parent run, collapsed, so the chart view shows nothing until the parent is expanded. Two
things fix that, both read by the UI bundled with MLflow 3.17:

- the experiment tag ``mlflow.experimentKind`` = ``custom_model_development`` (the value the UI's
  own kind selector writes for a model-training experiment), set when a study creates or reopens
  its experiment;
- the URL: ``workflowType=machine_learning`` selects the model-training mode, and ordering the runs
  by a metric (``orderByKey``) makes the UI list child runs flat instead of nested (it nests only
  when runs are ordered by start time and unfiltered), ``compareRunsMode=CHART`` opens the charts of
  every trial's metrics, energy and accuracy included.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote, urlencode

KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
_MODE = {"workflowType": "machine_learning"}


def experiment_url(base: str, experiment_id: str, metric: Optional[str] = None, mode: str = "max",
                   view: str = "CHART") -> str:
    """The experiment's trial runs, flat, best first by ``metric``; ``view``: CHART or TABLE."""
    query = dict(_MODE)
    if metric:
        query.update(orderByKey=f"metrics.`{metric}`", orderByAsc="true" if mode == "min" else "false")
    query["compareRunsMode"] = view
    return f"{base.rstrip('/')}/#/experiments/{quote(str(experiment_id))}/runs?{urlencode(query, quote_via=_quote_all)}"


def _quote_all(s, safe="", encoding=None, errors=None) -> str:
    return quote(s, safe="", encoding=encoding, errors=errors)


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page, in the model-training mode (in the GenAI mode it is filed under "Evaluations")."""
    return (f"{base.rstrip('/')}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}?"
            f"{urlencode(_MODE)}")


def compare_url(base: str, experiment_id: str, run_ids: list[str]) -> str:
    """MLflow's compare page of ``run_ids`` (their parameters and metrics side by side, and charts), in the
    model-training mode; the route and its JSON lists are the UI's own ``getCompareRunPageRoute``."""
    import json

    query = {"runs": json.dumps(list(run_ids), separators=(",", ":")),
             "experiments": json.dumps([str(experiment_id)], separators=(",", ":")), **_MODE}
    return f"{base.rstrip('/')}/#/compare-runs?{urlencode(query, quote_via=_quote_all)}"


def mark_training(cl, experiment_id: str) -> None:
    """Tag the experiment as a model-training one (idempotent)."""
    exp = cl.get_experiment(experiment_id)
    if exp.tags.get(KIND_TAG) != TRAINING_KIND:
        cl.set_experiment_tag(experiment_id, KIND_TAG, TRAINING_KIND)
