"""Search: Ray Tune's OptunaSearch on persistent RDB storage, with the bookkeeping Ray leaves out.

``StudySearch`` adds to OptunaSearch: a trial stopped by a rule (a ``stop_reason`` in its last result) is
told by ``study.stopping.outcome``: COMPLETE with its best-so-far objective when the rule detected a failure
(the trial keeps its best checkpoint), PRUNED when the stop was ASHA's or the trial degenerate; NaN objectives
do not leave trials RUNNING; ``seeds`` > 1 runs each Optuna configuration as several Ray trials with different
seeds and tells Optuna their mean. A trial stopped by a window report (``eval.report_every``) ends on a result that holds
only window statistics: its epoch-level metrics are those of its last epoch record. All of its state
lives in ``__dict__``, which OptunaSearch pickles on save.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import optuna
from ray.tune.search.optuna import OptunaSearch

from study.stopping.outcome import SeedOutcome, better, configuration_outcome
from trainables.schema import records as R
from trainables.schema.trial import SEED_INDEX, TRIAL_NUMBER


@dataclass
class TrialAttrs:
    """What the study keeps on each Optuna trial (one configuration; its seeds are Ray trials) beyond Optuna's own
    params, state and values: written by ``StudySearch`` and read by status, export, compare, the answer, the
    report and the model registry through this class alone (Optuna stores the fields as user attributes under
    their names). Lists are per seed, in seed order."""

    ray_trial_ids: list[str] = field(default_factory=list)
    stop_reasons: list[Optional[str]] = field(default_factory=list)  # a seed's stop reason (None: not stopped)
    stop_steps: list[Optional[int]] = field(default_factory=list)  # the global step of a seed's stop
    epochs: list[Optional[float]] = field(default_factory=list)  # the last epoch each seed reported
    metrics: dict[str, float] = field(default_factory=dict)  # mean over seeds of the last results' headline metrics
    values_at_stop: Optional[list[Optional[float]]] = None  # a PRUNED configuration's values when it was stopped

    @classmethod
    def of(cls, trial) -> "TrialAttrs":
        """The attributes of an Optuna trial (frozen or live); absent ones take their defaults."""
        ua = trial.user_attrs
        return cls(**{k: ua[k] for k in cls.__dataclass_fields__ if k in ua})

    def write(self, trial, *names: str) -> None:
        """Store ``names`` (default: every field) on the live Optuna trial."""
        for name in names or tuple(self.__dataclass_fields__):
            trial.set_user_attr(name, getattr(self, name))

    @property
    def stop_reason(self) -> Optional[str]:
        """The distinct stop reasons of the seeds, joined with commas (None when none was stopped)."""
        return ",".join(sorted({r for r in self.stop_reasons if r})) or None

    @property
    def stop_step(self) -> Optional[int]:
        """The step of the first seed's stop (None when none was stopped)."""
        steps = [s for s in self.stop_steps if s is not None]
        return int(steps[0]) if steps else None

    @property
    def last_epoch(self) -> Optional[float]:
        """The most epochs any seed ran (None when no seed reported)."""
        done = [e for e in self.epochs if e is not None]
        return max(done) if done else None

    def per_seed(self) -> list[tuple[str, Optional[str], Optional[int]]]:
        """(Ray trial id, stop reason, stop step) of each seed."""
        n = len(self.ray_trial_ids)
        pad = lambda xs: list(xs) + [None] * (n - len(xs))  # noqa: E731
        return list(zip(self.ray_trial_ids, pad(self.stop_reasons), pad(self.stop_steps)))

    def metric(self, name: str) -> Any:
        return self.metrics.get(name)


def build_space(parameters: dict) -> dict:
    """Translate the spec's distributions to Optuna distributions, once."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from study.spec.spec import Choice, IntRange, LogUniform

    space = {}
    for name, d in parameters.items():
        if isinstance(d, Choice):
            space[name] = CategoricalDistribution(d.values)
        elif isinstance(d, IntRange):
            space[name] = IntDistribution(d.low, d.high, step=d.step)
        else:
            space[name] = FloatDistribution(d.low, d.high, log=isinstance(d, LogUniform))
    return space


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler without its end-of-grid ``study.stop()``, which only works inside
    ``Study.optimize`` (Tune asks and tells instead); the spec keeps num_samples within the grid."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def build_sampler(search):
    import optuna

    kind = search.sampler if search.sampler != "auto" else ("nsga2" if len(search.metrics) > 1 else "tpe")
    factories = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=search.seed),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=search.seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=search.seed),
        "grid": lambda: GridSampler({p: d.values for p, d in search.parameters.items()}, seed=search.seed),
    }
    return factories[kind]()


# OptunaSearch keeps no public handle on what it asked Optuna for; StudySearch reads two of its private
# attributes: ``_ot_trials`` (ray trial id -> the optuna.Trial it asked for) and ``_completed_trials`` (ray
# trial ids already told). Checked against ray 2.60.0 with optuna 5.0.0;
# tests/study/search/test_search.py::test_the_private_optuna_search_attributes_still_exist fails when they go.
PRIVATE_OPTUNA_SEARCH_ATTRS = ("_ot_trials", "_completed_trials")


class StudySearch(OptunaSearch):
    """OptunaSearch that tells Optuna what a stopped trial is worth (``study.stopping.outcome``) and the seeds of
    one configuration as their mean."""

    def __init__(self, *args, seeds: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seeds = seeds
        self._group_of: dict[str, str] = {}  # ray trial id -> primary ray trial id (owner of the Optuna trial)
        self._members: dict[str, list[str]] = {}  # primary -> ray trial ids in seed order
        self._outcomes: dict[str, dict] = {}  # ray trial id -> {"result":…, "error":…}
        self._open_group: Optional[str] = None
        self._last_epoch: dict[str, dict] = {}  # ray trial id -> its last epoch record (not a window report)

    def suggest(self, trial_id: str):
        group = self._open_group
        if group is None or len(self._members[group]) >= self.seeds:
            params = super().suggest(trial_id)
            if params is None or not isinstance(params, dict):
                return params
            group, self._open_group = trial_id, trial_id
            self._members[group] = []
        else:
            params = dict(self._ot_trials[group].params)
        self._members[group].append(trial_id)
        self._group_of[trial_id] = group
        TrialAttrs(ray_trial_ids=list(self._members[group])).write(self._ot_trials[group], "ray_trial_ids")
        return {**params, SEED_INDEX: len(self._members[group]) - 1, TRIAL_NUMBER: self._ot_trials[group].number}

    @property
    def _metrics_modes(self) -> list[tuple[str, str]]:
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        modes = self.mode if isinstance(self.mode, list) else [self.mode] * len(metrics)
        return list(zip(metrics, modes))

    def _note_best(self, trial_id: str, result: dict) -> None:
        """Fold an epoch record into the trial's best-so-far reading of each search metric (what a stopped trial
        that keeps its result is worth)."""
        best = self.__dict__.setdefault("_best_so_far", {}).setdefault(trial_id, {})  # searchers pickled before 25
        for m, mode in self._metrics_modes:
            best[m] = better(best.get(m), result.get(m), mode)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not R.is_partial(result):
            self.__dict__.setdefault("_last_epoch", {})[trial_id] = result  # searchers pickled before issue 15
            self._note_best(trial_id, result)
        value = result.get(self.metric) if isinstance(self.metric, str) else None
        if self._group_of.get(trial_id) == trial_id and value is not None and math.isfinite(value):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        from optuna.trial import TrialState

        group = self._group_of.get(trial_id, trial_id)
        last_epoch = self.__dict__.setdefault("_last_epoch", {}).pop(trial_id, {})
        result = {**last_epoch, **result} if result and R.is_partial(result) else result
        self._outcomes[trial_id] = {"result": dict(result or {}), "error": error}
        if result and not error:
            self._note_best(trial_id, result)
        members = self._members.get(group, [trial_id])
        if len(members) < self.seeds or any(m not in self._outcomes for m in members):
            return  # wait for the other seeds of this configuration
        if group in self._completed_trials:
            return
        outcomes = [self._outcomes[m] for m in members]
        best = self.__dict__.setdefault("_best_so_far", {})
        seeds = [SeedOutcome(o["result"], o["error"], best.pop(m, {})) for m, o in zip(members, outcomes)]
        metrics = [m for m, _ in self._metrics_modes]
        decided = configuration_outcome(seeds, metrics)
        ot_trial = self._ot_trials[group]
        state = TrialState[decided.state]
        attrs = TrialAttrs(
            ray_trial_ids=list(members), stop_reasons=decided.reasons,
            stop_steps=[o["result"].get(R.STOP_STEP) if o["result"].get(R.STOP_REASON) else None for o in outcomes],
            epochs=[o["result"].get(R.EPOCH) for o in outcomes],
            metrics=summarize([o["result"] for o in outcomes if not o["error"]], metrics),
            values_at_stop=decided.values if state == TrialState.PRUNED else None)
        attrs.write(ot_trial, "stop_reasons", "stop_steps", "epochs", "metrics",
                    *(["values_at_stop"] if state == TrialState.PRUNED else []))
        told = None
        if state == TrialState.COMPLETE:
            told = decided.values if len(decided.values) > 1 else decided.values[0]
        ot_trial.study.tell(ot_trial, told, state=state)
        self._completed_trials.add(group)


SUMMARY_KEYS = (R.VAL_ROBUST_ACC, R.VAL_PGD_ACC, R.VAL_MASKING_GAP, R.VAL_CLEAN_ACC, R.PROBE_PGD_ACC, R.TRAIN_DELTA_MEAN,
                R.VAL_MASKED, R.VAL_CHANCE_ACC, R.BEST_VAL_ROBUST, R.BEST_VAL_PGD, R.BEST_EPOCH, R.BEST_MASKED)


def summarize(results: list[dict], metrics: list[str]) -> dict[str, float]:
    """Mean over seeds of the last result's headline metrics (search metrics, validation, test)."""
    keys = dict.fromkeys([*metrics, *SUMMARY_KEYS, *(k for r in results for k in r if k.startswith(("test/", R.GEN_PREFIX)))])
    out = {}
    for k in keys:
        xs = [float(r[k]) for r in results if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        if xs:
            out[k] = sum(xs) / len(xs)
    return out


def reconcile(storage, study_name: str) -> int:
    """Mark Optuna trials left RUNNING (a killed driver, an ask never run) as FAIL; return how many."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study_name)
    n = 0
    for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(trial_id, "reconciled", "left RUNNING by an interrupted driver")
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        n += 1
    return n
