"""What the report shows, read once from the study's owners: the catalog (spec), Optuna (trials,
params, objective values, stop reasons) and MLflow (per-epoch histories of each Ray trial).

The figures only see these plain dataclasses, never a store, so each figure module is a pure
function of ``StudyData`` and can be tested without Ray.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from trainables.schema import records as R

# Outcome of one run (a Ray trial) or one Optuna trial, in legend order.
COMPLETED, PRUNED, FAILED, RUNNING = "completed", "pruned", "failed", "running"
DELTA_ENERGY, PROBE, NAN, ASHA, DEGENERATE = R.STOP_DELTA_ENERGY, R.STOP_PROBE, R.STOP_NAN, R.STOP_ASHA, R.STOP_DEGENERATE
OUTCOMES = (COMPLETED, DELTA_ENERGY, PROBE, DEGENERATE, NAN, ASHA, PRUNED, FAILED, RUNNING)
OUTCOME_LABELS = {
    COMPLETED: "completed", DELTA_ENERGY: "stopped by ΔE, result kept", PROBE: "stopped by the probe, result kept",
    NAN: "non-finite loss",
    ASHA: "stopped by ASHA", DEGENERATE: "degenerate (constant classifier)", PRUNED: "pruned (other)",
    FAILED: "failed", RUNNING: "running",
}
# Per-epoch metrics the report draws, read from each child run's MLflow history (plus what the ΔE rule watches:
# ``history_keys``).
HISTORY_KEYS = (R.TRAIN_DELTA_MEAN, R.PROBE_DELTA_MEAN, R.VAL_PGD_ACC)


def history_keys(spec) -> tuple[str, ...]:
    """HISTORY_KEYS, the ΔE rule's statistic at both resolutions (epoch; window, at the global step) and the
    windows' epoch (to place a window reading on the epoch axis)."""
    metric = spec.stopping.delta_energy.metric
    return tuple(dict.fromkeys([*HISTORY_KEYS, metric, R.window_key(metric), R.WINDOW_EPOCH]))


@dataclass
class RunData:
    """One Ray trial (one seed of an Optuna trial) and its per-epoch histories from MLflow."""

    ray_trial_id: str
    seed_index: int
    outcome: str
    stop_reason: Optional[str] = None
    stop_epoch: Optional[float] = None  # fractional when a window report stopped the run
    run_id: Optional[str] = None
    # metric -> [(MLflow step, value)]: the epoch for epoch-level metrics, the global step for window/...
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    stop_step: Optional[int] = None


@dataclass
class TrialData:
    """One Optuna trial: a configuration, with its seeds' runs."""

    study: str
    number: int
    state: str
    outcome: str
    stop_reason: Optional[str]
    epochs: Optional[int]
    params: dict[str, Any]  # as sampled by Optuna
    values: Optional[list[Optional[float]]]  # objective values told to Optuna (None unless COMPLETE)
    metrics: dict[str, float]  # last-epoch headline metrics (mean over seeds), from the trial's user attrs
    runs: list[RunData] = field(default_factory=list)
    config_values: dict[str, Any] = field(default_factory=dict)  # dotted path -> value in the resolved config


@dataclass
class StudyData:
    name: str
    status: str
    spec: Any  # study.spec.spec.StudySpec
    optuna_study: Any  # optuna.Study (for importances)
    trials: list[TrialData]
    experiment_id: Optional[str] = None
    mlflow_uri: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    answer: dict = field(default_factory=dict)  # the test reading of its best configurations (``study.results.answer``)

    @property
    def metrics(self) -> list[str]:
        return list(self.spec.search.metrics)

    @property
    def modes(self) -> list[str]:
        return list(self.spec.search.modes)

    @property
    def parameters(self) -> list[str]:
        return list(self.spec.search.parameters)


def finite(x) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def run_outcome(reason: Optional[str], failed: bool) -> str:
    """A run's outcome from its own stop reason (a scheduler rule, NaN, ASHA) or error."""
    if failed:
        return FAILED
    if not reason:
        return COMPLETED
    return reason if reason in OUTCOMES else PRUNED


def trial_outcome(state: str, reasons: list[Optional[str]]) -> str:
    """An Optuna trial's outcome: its state, refined by its seeds' stop reasons (a COMPLETE trial may have been
    stopped by a rule that keeps its result; a PRUNED one is named by the stop that pruned it)."""
    if state == "COMPLETE":
        return next((r for r in (DELTA_ENERGY, PROBE) if r in reasons), COMPLETED)
    if state == "FAIL":
        return FAILED
    if state in ("RUNNING", "WAITING"):
        return RUNNING
    for r in (DEGENERATE, ASHA, NAN, DELTA_ENERGY, PROBE):
        if r in reasons:
            return r
    return PRUNED


def dotted(d: dict, path: str):
    for k in path.split("."):
        d = d[k]
    return d


def _history(cl, run_id: str, key: str) -> list[tuple[int, float]]:
    by_step = {m.step: m.value for m in sorted(cl.get_metric_history(run_id, key), key=lambda m: m.timestamp)}
    return sorted(by_step.items())


def _stop_epoch(tags: dict, history: dict) -> Optional[float]:
    try:
        return float(tags[R.STOP_EPOCH])
    except (KeyError, TypeError, ValueError):
        steps = [s for k, h in history.items() if not k.startswith(R.WINDOW_PREFIX) for s, _ in h]
        return max(steps) if steps else None


def _stop_step(attr, tags: dict) -> Optional[int]:
    for v in (attr, tags.get(R.STOP_STEP)):
        try:
            return int(float(v))
        except (TypeError, ValueError):
            pass
    return None


def load_study(workspace: Path, name: str, optuna_storage: Optional[str] = None,
               mlflow_uri: Optional[str] = None, config_paths: tuple[str, ...] = ()) -> StudyData:
    """Everything the report needs about one study; ``config_paths`` are extra dotted paths to read
    from each trial's resolved config (the other studies' parameters, when comparing)."""
    from study.results.reading import mlflow_runs, open_study, trial_config
    from study.search.search import TrialAttrs

    handle = open_study(workspace, name, optuna_storage, mlflow_uri)
    study = handle.load_optuna()
    runs = mlflow_runs(handle)
    notes = [f"{runs.note}; its per-epoch curves are empty"] if runs.note else []
    paths = list(dict.fromkeys([*handle.spec.search.parameters, *config_paths]))
    keys = history_keys(handle.spec)
    trials = []
    for t in study.get_trials(deepcopy=False):
        attrs = TrialAttrs.of(t)
        ray_ids = list(attrs.ray_trial_ids)
        run_list = []
        for i, (rid, seed_reason, seed_step) in enumerate(attrs.per_seed()):
            mrun = runs.by_trial.get(rid)
            tags = mrun.data.tags if mrun else {}
            reason = seed_reason or tags.get(R.STOP_REASON)
            hist = {k: _history(runs.client, mrun.info.run_id, k) for k in keys} if mrun else {}
            # Optuna (the search state) says whether a configuration failed; only for one seed among
            # several does the MLflow run status have to tell which of them errored.
            failed = (t.state.name == "FAIL" and not reason) or (
                len(ray_ids) > 1 and mrun is not None and mrun.info.status == "FAILED")
            run_list.append(RunData(rid, i, run_outcome(reason, failed), reason,
                                    _stop_epoch(tags, hist) if reason else None,
                                    mrun.info.run_id if mrun else None, hist,
                                    _stop_step(seed_step, tags) if reason else None))
        values = [finite(v) for v in t.values] if t.values is not None else None
        sampled = all(p in t.params for p in handle.spec.search.parameters)
        cfg = trial_config(handle.spec, t.params).model_dump(mode="json") if sampled else None
        trials.append(TrialData(
            study=name, number=t.number, state=t.state.name, outcome=trial_outcome(t.state.name, [r for _, r, _ in attrs.per_seed()]),
            stop_reason=attrs.stop_reason, epochs=attrs.last_epoch, params=dict(t.params), values=values,
            metrics={k: v for k, v in attrs.metrics.items() if finite(v) is not None}, runs=run_list,
            config_values={p: _safe_dotted(cfg, p) for p in paths} if cfg is not None else {},
        ))
    from study.results.answer import read_answer

    return StudyData(name, handle.status, handle.spec, study, trials, runs.experiment_id, handle.mlflow_uri, notes,
                     read_answer(study))


def _safe_dotted(cfg: dict, path: str):
    try:
        return dotted(cfg, path)
    except (KeyError, TypeError):
        return None


def load_studies(workspace: Path, names: list[str], optuna_storage: Optional[str] = None,
                 mlflow_uri: Optional[str] = None) -> list[StudyData]:
    """The main study and the ones it is compared with; every study reads every study's parameters,
    so e.g. ``der.weight`` is 0 (its base value) for a study that did not search it."""
    from study.stores.catalog import Catalog

    cat = Catalog.open(workspace)
    paths: list[str] = []
    for n in names:
        paths += list(cat.get(n).spec().search.parameters)
    paths = list(dict.fromkeys(paths))
    # Store URLs given on the command line apply to the main study only.
    return [load_study(workspace, n, optuna_storage if i == 0 else None, mlflow_uri if i == 0 else None, tuple(paths))
            for i, n in enumerate(names)]
