"""What a stop does to the study's answer (issue 25): the stops that detect a failure keep the trial's result,
ASHA's and a degenerate trial's prune the configuration, and every layer names it the same way."""
from __future__ import annotations

import pytest

from study.stopping.outcome import (COMPLETE, FAIL, PRUNED, SeedOutcome, configuration_outcome, keeps_result,
                                    stop_phrase)
from trainables.schema import records as R

M = R.VAL_PGD_ACC


def seed(last, best=None, reason=None, error=False):
    result = {M: last, **({R.STOP_REASON: reason} if reason else {})}
    return SeedOutcome(result, error, {M: best if best is not None else last})


def test_which_stops_keep_the_result():
    assert keeps_result(None)  # not stopped
    assert all(keeps_result(r) for r in (R.STOP_PROBE, R.STOP_DELTA_ENERGY, R.STOP_NAN))
    assert not keeps_result(R.STOP_ASHA) and not keeps_result(R.STOP_DEGENERATE)
    assert set(R.RESULT_KEPT) < set(R.STOP_REASONS)


def test_a_kept_seed_is_worth_its_best_reading_a_finished_one_its_last():
    out = configuration_outcome([seed(0.02, best=0.40, reason=R.STOP_PROBE), seed(0.30, best=0.50)], [M])
    assert out.state == COMPLETE and out.values == [pytest.approx(0.35)] and out.result_kept


@pytest.mark.parametrize("reason", [R.STOP_ASHA, R.STOP_DEGENERATE])
def test_one_pruning_seed_prunes_the_configuration(reason):
    out = configuration_outcome([seed(0.4), seed(0.3, reason=reason)], [M])
    assert out.state == PRUNED and not out.result_kept and out.values == [pytest.approx(0.35)]


def test_no_finite_value_is_pruned_and_all_errored_fails():
    assert configuration_outcome([seed(float("nan"), best=float("nan"), reason=R.STOP_NAN)], [M]).state == PRUNED
    assert configuration_outcome([seed(0.4, error=True), seed(0.5, error=True)], [M]).state == FAIL
    out = configuration_outcome([seed(0.4, error=True), seed(0.5)], [M])  # an errored seed is left out of the mean
    assert out.state == COMPLETE and out.values == [pytest.approx(0.5)]


def test_one_phrase_for_a_stop_everywhere():
    assert stop_phrase(None) == ""
    assert stop_phrase(R.STOP_PROBE, step=128) == "stopped (probe collapse at step 128), result kept"
    assert stop_phrase(R.STOP_ASHA, epoch=3.0) == "stopped (ASHA at epoch 3), pruned"
    assert stop_phrase(R.STOP_DELTA_ENERGY, "COMPLETE", step=10, short=True) == "ΔE divergence at step 10, result kept"
    # a kept seed in a configuration another seed got pruned: the configuration's state decides
    assert stop_phrase("asha,probe_collapse", "PRUNED") == "stopped (ASHA, probe collapse), pruned"
