"""The searcher adapter: ``StudySearch`` between Ray (played here by the test: it calls suggest/on_trial_result/
on_trial_complete) and a real in-memory Optuna study. A trial stopped by a rule that detects a failure (probe,
ΔE, NaN) is COMPLETE with its best-so-far objective; ASHA's stops, degenerate trials and NaN objectives are
PRUNED; finished ones COMPLETE; several seeds are one Optuna trial told their mean; no Ray cluster needed."""
import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from study.search.search import PRIVATE_OPTUNA_SEARCH_ATTRS, StudySearch
from trainables.schema import records as R
from trainables.schema.trial import SEED_INDEX, TRIAL_NUMBER

METRIC = R.VAL_ROBUST_ACC
SPACE = {"optim.lr": FloatDistribution(1e-3, 1e-1, log=True)}


def searcher(seeds=1, metric=METRIC, mode="max"):
    storage = optuna.storages.InMemoryStorage()
    s = StudySearch(space=dict(SPACE), metric=metric, mode=mode, sampler=optuna.samplers.RandomSampler(seed=0),
                    study_name="s", storage=storage, seeds=seeds)
    return s, storage


def trials(storage):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="s", storage=storage).get_trials(deepcopy=False)


def epoch(e, value, **more):
    return {R.EPOCH: e, R.STEP: 32 * e, "training_iteration": e, METRIC: value, **more}


def test_a_finished_trial_is_complete_with_its_last_value():
    s, storage = searcher()
    params = s.suggest("a")
    assert set(params) == {"optim.lr", SEED_INDEX, TRIAL_NUMBER}
    assert (params[SEED_INDEX], params[TRIAL_NUMBER]) == (0, 0)
    s.on_trial_result("a", epoch(1, 0.4))
    s.on_trial_complete("a", epoch(2, 0.5))
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.5)
    assert t.intermediate_values == {1: pytest.approx(0.4)}
    assert t.user_attrs["ray_trial_ids"] == ["a"]
    assert t.user_attrs["stop_reasons"] == [None] and t.user_attrs["epochs"] == [2]
    assert t.user_attrs["metrics"][METRIC] == pytest.approx(0.5)


@pytest.mark.parametrize("reason", [R.STOP_DELTA_ENERGY, R.STOP_PROBE, R.STOP_NAN])
def test_a_trial_stopped_after_a_failure_keeps_its_best_so_far_value(reason):
    s, storage = searcher(metric=R.VAL_PGD_ACC)  # a per-epoch metric: its best reading, not the collapsed last one
    s.suggest("a")
    s.on_trial_result("a", {**epoch(1, 0.1), R.VAL_PGD_ACC: 0.30})
    s.on_trial_result("a", {**epoch(2, 0.1), R.VAL_PGD_ACC: 0.45})
    stopped = {**epoch(3, 0.1), R.VAL_PGD_ACC: 0.02, R.STOP_REASON: reason, R.STOP_STEP: 96}
    s.on_trial_result("a", stopped)
    s.on_trial_complete("a", stopped)
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.45)
    assert t.user_attrs["stop_reasons"] == [reason] and t.user_attrs["stop_steps"] == [96]
    assert "values_at_stop" not in t.user_attrs


@pytest.mark.parametrize("reason", [R.STOP_ASHA, R.STOP_DEGENERATE])
def test_a_resource_stop_or_a_degenerate_trial_is_pruned(reason):
    s, storage = searcher()
    s.suggest("a")
    s.on_trial_result("a", epoch(1, 0.3))
    s.on_trial_complete("a", epoch(2, 0.3, **{R.STOP_REASON: reason, R.STOP_STEP: 64}))
    (t,) = trials(storage)
    assert t.state == TrialState.PRUNED
    assert t.user_attrs["stop_reasons"] == [reason] and t.user_attrs["stop_steps"] == [64]
    assert t.user_attrs["values_at_stop"] == [pytest.approx(0.3)]


def test_seeds_of_a_configuration_stopped_by_a_rule_are_told_the_mean_of_their_best():
    s, storage = searcher(seeds=2, metric=R.VAL_PGD_ACC)
    s.suggest("a"), s.suggest("b")
    for tid, readings in (("a", [0.4, 0.6, 0.05]), ("b", [0.5, 0.2])):
        for e, v in enumerate(readings, 1):
            s.on_trial_result(tid, {**epoch(e, 0.1), R.VAL_PGD_ACC: v})
    s.on_trial_complete("a", {**epoch(3, 0.1), R.VAL_PGD_ACC: 0.05, R.STOP_REASON: R.STOP_PROBE, R.STOP_STEP: 96})
    s.on_trial_complete("b", {**epoch(2, 0.1), R.VAL_PGD_ACC: 0.2})  # finished: its last reading, as ever
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx((0.6 + 0.2) / 2)
    assert t.user_attrs["stop_reasons"] == [R.STOP_PROBE, None]


def test_a_nan_objective_is_pruned_not_left_running_and_never_reported():
    s, storage = searcher()
    s.suggest("a")
    s.on_trial_result("a", epoch(1, math.nan))
    s.on_trial_complete("a", epoch(1, math.nan))
    (t,) = trials(storage)
    assert t.state == TrialState.PRUNED
    assert t.intermediate_values == {}
    assert t.user_attrs["values_at_stop"] == [None]


def test_seeds_share_one_optuna_trial_told_their_mean():
    s, storage = searcher(seeds=2)
    a, b = s.suggest("a"), s.suggest("b")
    assert a["optim.lr"] == b["optim.lr"] and (a[SEED_INDEX], b[SEED_INDEX]) == (0, 1)
    assert a[TRIAL_NUMBER] == b[TRIAL_NUMBER] == 0
    s.on_trial_result("b", epoch(1, 0.9))  # only the first seed reports intermediate values
    s.on_trial_complete("a", epoch(1, 0.4))
    assert trials(storage)[0].state == TrialState.RUNNING  # waits for the other seed
    s.on_trial_complete("b", epoch(1, 0.6))
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.5)
    assert t.user_attrs["ray_trial_ids"] == ["a", "b"] and t.intermediate_values == {}
    assert s.suggest("c")[TRIAL_NUMBER] == 1  # the next configuration is a new Optuna trial


def test_an_errored_seed_is_left_out_of_the_mean_and_all_errored_is_fail():
    s, storage = searcher(seeds=2)
    for tid in "abcd":
        s.suggest(tid)
    s.on_trial_complete("a", epoch(1, 0.4))
    s.on_trial_complete("b", None, error=True)
    s.on_trial_complete("c", None, error=True)
    s.on_trial_complete("d", None, error=True)
    first, second = trials(storage)
    assert first.state == TrialState.COMPLETE and first.value == pytest.approx(0.4)
    assert second.state == TrialState.FAIL


def test_a_second_completion_is_ignored():
    s, storage = searcher()
    s.suggest("a")
    s.on_trial_complete("a", epoch(1, 0.5))
    s.on_trial_complete("a", epoch(2, 0.7))
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.5)


def test_a_trial_ending_on_a_window_report_keeps_its_last_epoch_metrics():
    s, storage = searcher()
    s.suggest("a")
    s.on_trial_result("a", epoch(1, 0.4))
    window = {R.EPOCH: 1.25, R.STEP: 40, R.PARTIAL: 1, R.window_key(R.TRAIN_DELTA_MEAN): -3.0,
              R.STOP_REASON: R.STOP_DELTA_ENERGY, R.STOP_STEP: 40}
    s.on_trial_result("a", window)
    s.on_trial_complete("a", window)
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.value == pytest.approx(0.4)  # the result kept: epoch 1's
    assert t.user_attrs["metrics"][METRIC] == pytest.approx(0.4) and t.user_attrs["epochs"] == [1.25]


def test_two_objectives_complete_with_both_values():
    s, storage = searcher(metric=[METRIC, R.VAL_CLEAN_ACC], mode=["max", "max"])
    s.suggest("a")
    s.on_trial_complete("a", {**epoch(1, 0.4), R.VAL_CLEAN_ACC: 0.8})
    (t,) = trials(storage)
    assert t.state == TrialState.COMPLETE and t.values == [pytest.approx(0.4), pytest.approx(0.8)]


def test_the_private_optuna_search_attributes_still_exist():
    """StudySearch reads these private attributes of Ray's OptunaSearch (see study/search/search.py); fail loudly
    when an upgrade of ray removes them, instead of a study failing half way."""
    plain = OptunaSearch(space=dict(SPACE), metric=METRIC, mode="max")
    missing = [a for a in PRIVATE_OPTUNA_SEARCH_ATTRS if not hasattr(plain, a)]
    assert not missing, f"ray.tune.search.optuna.OptunaSearch no longer has {missing}: update study.search.search"
    plain.suggest("a")
    assert isinstance(plain._ot_trials["a"], optuna.trial.Trial)
    assert isinstance(plain._completed_trials, set)
    assert isinstance(plain._ot_trials["a"].study, optuna.Study)  # what StudySearch tells (public Trial.study)


def test_the_grid_sampler_draws_every_combination_once():
    from study.search.search import build_sampler
    from study.spec.spec import SearchSpec

    spec = SearchSpec.model_validate({"parameters": {"der.weight": {"distribution": "choice", "values": [0.0, 0.1, 1.0, 10.0]}},
                                      "num_samples": 4, "sampler": "grid"})
    storage = optuna.storages.InMemoryStorage()
    s = StudySearch(space={"der.weight": optuna.distributions.CategoricalDistribution([0.0, 0.1, 1.0, 10.0])},
                    metric=METRIC, mode="max", sampler=build_sampler(spec), study_name="s", storage=storage)
    drawn = []
    for i in range(4):
        drawn.append(s.suggest(f"t{i}")["der.weight"])
        s.on_trial_complete(f"t{i}", epoch(1, 0.5))
    assert sorted(drawn) == [0.0, 0.1, 1.0, 10.0]


def test_a_grid_needs_choices_and_at_most_its_size():
    import pytest

    from study.spec.spec import SearchSpec

    with pytest.raises(ValueError, match="every parameter as"):
        SearchSpec.model_validate({"parameters": {"der.weight": {"distribution": "uniform", "low": 0, "high": 1}},
                                   "sampler": "grid"})
    with pytest.raises(ValueError, match="at most 2"):
        SearchSpec.model_validate({"parameters": {"der.weight": {"distribution": "choice", "values": [0, 1]}},
                                   "num_samples": 3, "sampler": "grid"})
