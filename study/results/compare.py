"""Two trials of one study side by side (``study compare NAME A B``): what differs in their configs, how they
ended, their per-epoch curves, and the MLflow page that compares their runs.

Configs are the exact resolved ones the trials ran (``study.kinds.exported.fully_resolved`` over ``trial_config``), so
a difference a default hid still shows; differences come first. Curves are the first seed's MLflow histories
(``study.results.reading.mlflow_runs``). Nothing here writes; the command prints and ``dashboards.compare_page`` draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from study.errors import UserError
from trainables.schema import records as R

CURVES = (R.VAL_ROBUST_ACC, R.VAL_PGD_ACC, R.VAL_CLEAN_ACC, R.PROBE_PGD_ACC, R.TRAIN_DELTA_MEAN, R.LOSS_TOTAL)
OUTCOME_KEYS = (R.BEST_VAL_ROBUST, R.BEST_EPOCH, R.BEST_MASKED, R.VAL_ROBUST_ACC, R.VAL_PGD_ACC, R.VAL_CLEAN_ACC)


@dataclass
class Side:
    """One trial as compared: its config (flat dotted paths), outcome, histories and MLflow run ids."""

    number: int
    state: str
    stop: str
    config: dict[str, Any]
    metrics: dict[str, float]
    answer: str = ""
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # metric -> [(epoch, value)]
    run_ids: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    study: str
    a: Side
    b: Side
    searched: list[str]
    experiment_id: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    def rows(self, everything: bool = False) -> list[tuple[str, Any, Any, bool]]:
        """(dotted path, value in A, value in B, differs): differences first (searched parameters at their head),
        then the searched parameters that agree; ``everything``: every other setting too."""
        keys = list(dict.fromkeys([*self.searched, *self.a.config, *self.b.config]))
        rows = [(k, self.a.config.get(k), self.b.config.get(k), self.a.config.get(k) != self.b.config.get(k))
                for k in keys if k != "name"]
        first = [r for r in rows if r[3]]
        rest = [r for r in rows if not r[3] and (everything or r[0] in self.searched)]
        return first + rest

    def same_count(self) -> int:
        return sum(1 for _, _, _, d in self.rows(everything=True) if not d) - sum(
            1 for k, _, _, d in self.rows() if not d)

    def mlflow_url(self, base: str) -> Optional[str]:
        from study.tracking.mlflow_ui import compare_url

        ids = [*self.a.run_ids, *self.b.run_ids]
        return compare_url(base, self.experiment_id, ids) if self.experiment_id and len(ids) >= 2 else None


def compare_trials(handle, a: int, b: int) -> Comparison:
    """Read trials ``a`` and ``b`` of the study behind ``handle``."""
    from study.results.reading import mlflow_runs

    if a == b:
        raise UserError(f"give two different trial numbers (got {a} twice)")
    study = handle.load_optuna()
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    missing = [n for n in (a, b) if n not in by_number]
    if missing:
        known = ", ".join(map(str, sorted(by_number))) or "none"
        raise UserError(f"study {handle.name!r} has no trial {missing[0]} (its trials: {known}); see "
                        f"`study status {handle.name}`")
    from study.results.answer import read_answer

    runs = mlflow_runs(handle)
    answer = read_answer(study)
    sides = [_side(handle, by_number[n], runs, answer) for n in (a, b)]
    notes = [runs.note] if runs.note else []
    return Comparison(handle.name, sides[0], sides[1], list(handle.spec.search.parameters), runs.experiment_id, notes)


def _side(handle, trial, runs, answer: dict) -> Side:
    from study.results.answer import phrase
    from study.results.reading import trial_config
    from study.search.search import TrialAttrs
    from study.stopping.outcome import stop_phrase
    from study.tracking.common import flatten

    sampled = all(p in trial.params for p in handle.spec.search.parameters)
    if not sampled:
        raise UserError(f"trial {trial.number} of study {handle.name!r} has no sampled parameters yet (state "
                        f"{trial.state.name}); compare trials that have started")
    cfg = trial_config(handle.spec, trial.params)
    if handle.spec.kind == "train":
        from study.kinds.exported import fully_resolved

        cfg = fully_resolved(cfg)
    attrs = TrialAttrs.of(trial)
    side = Side(trial.number, trial.state.name, stop_phrase(attrs.stop_reason, trial.state.name, attrs.stop_step),
                flatten(cfg.model_dump(mode="json")), dict(attrs.metrics))
    entry = answer.get("trials", {}).get(str(trial.number))
    side.answer = phrase(entry, answer) if entry else ""
    for i, rid in enumerate(attrs.ray_trial_ids):
        run = runs.by_trial.get(rid)
        if run is None:
            continue
        side.run_ids.append(run.info.run_id)
        if i == 0:
            side.history = {k: _history(runs.client, run.info.run_id, k) for k in CURVES}
    return side


def _history(cl, run_id: str, metric: str) -> list[tuple[int, float]]:
    by_step = {m.step: m.value for m in sorted(cl.get_metric_history(run_id, metric), key=lambda m: m.timestamp)}
    return sorted(by_step.items())
