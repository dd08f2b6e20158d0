"""Decisions of the stopping rules on synthetic metric streams (no Ray)."""
import math

import pytest

from study.spec.spec import StoppingSpec
from study.stopping import DeltaEnergyDivergence, NonFinite, ProbeCollapse, StoppingPolicy, policy_from_spec
from trainables.schema import records as R


def stream(deltas, probe=None):
    probe = probe or [0.5] * len(deltas)
    return [{R.EPOCH: i + 1, R.TRAIN_DELTA_MEAN: d, R.PROBE_PGD_ACC: p, R.LOSS_TOTAL: 1.0}
            for i, (d, p) in enumerate(zip(deltas, probe))]


def first_stop(policy, hist):
    for t in range(1, len(hist) + 1):
        d = policy.decide(hist[:t])
        if d.stop:
            return t, d.reason
    return None, None


RULE = DeltaEnergyDivergence(metric=R.TRAIN_DELTA_MEAN, grace_epochs=2, window=3, threshold=6.0, min_scale=0.05, rel_scale=0.1)


def test_diverging_trace_is_stopped_at_the_jump():
    hist = stream([-0.10, -0.12, -0.11, -0.13, -2.5, -4.0])
    assert first_stop(StoppingPolicy([RULE]), hist) == (5, "delta_energy")


def test_healthy_slow_growth_is_not_stopped():
    # |ΔE| grows steadily in healthy robust training: a drift relative to its own history is fine
    hist = stream([-0.05 * 1.15 ** t for t in range(30)])
    assert first_stop(StoppingPolicy([RULE]), hist) == (None, None)


def test_noisy_healthy_trace_is_not_stopped():
    import random

    rng = random.Random(0)
    hist = stream([-0.2 + rng.gauss(0, 0.02) for _ in range(40)])
    assert first_stop(StoppingPolicy([RULE]), hist) == (None, None)


def test_within_grace_period_never_stops():
    rule = DeltaEnergyDivergence(grace_epochs=5, window=2)
    hist = stream([-0.1, -0.1, -0.1, -5.0, -9.0])
    assert all(not rule.decide(hist[:t]).stop for t in range(1, 6))


def test_not_enough_history_never_stops():
    rule = DeltaEnergyDivergence(grace_epochs=0, window=3)
    assert not rule.decide(stream([-0.1, -0.1, -9.0])).stop


def test_probe_collapse_against_best_and_previous():
    hist = stream([-0.1] * 5, probe=[0.30, 0.40, 0.42, 0.41, 0.05])
    assert first_stop(StoppingPolicy([ProbeCollapse(drop=0.2)]), hist) == (5, "probe_collapse")
    slow = stream([-0.1] * 6, probe=[0.40, 0.30, 0.21, 0.12, 0.05, 0.01])
    assert first_stop(StoppingPolicy([ProbeCollapse(drop=0.2, reference="previous")]), slow) == (None, None)
    assert first_stop(StoppingPolicy([ProbeCollapse(drop=0.2, reference="best")]), slow)[1] == "probe_collapse"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nonfinite_loss_stops_at_once(bad):
    hist = stream([-0.1, -0.1])
    hist[-1][R.LOSS_TOTAL] = bad
    assert NonFinite().decide(hist) .reason == "nan"
    assert first_stop(policy_from_spec(StoppingSpec()), hist) == (2, "nan")


def test_nonfinite_flag_stops():
    hist = stream([-0.1])
    hist[-1][R.NONFINITE] = 1.0
    assert policy_from_spec(StoppingSpec()).decide(hist).reason == "nan"


def test_nan_delta_energy_does_not_crash_the_rule():
    hist = stream([-0.1, -0.1, -0.1, -0.1, math.nan])
    RULE.decide(hist)  # NaN is not a divergence verdict by itself: NonFinite handles the loss


def test_policy_from_spec_respects_enabled_flags():
    spec = StoppingSpec.model_validate({"delta_energy": {"enabled": False}, "probe": {"enabled": False},
                                        "degenerate": {"enabled": False}})
    pol = policy_from_spec(spec)
    assert [type(r).__name__ for r in pol.rules] == ["NonFinite"]
    hist = stream([-0.1, -0.1, -0.1, -0.1, -9.0], probe=[0.5, 0.5, 0.5, 0.5, 0.0])
    assert first_stop(pol, hist) == (None, None)


def test_degenerate_classifier_is_stopped_after_grace():
    from study.stopping import Degenerate

    hist = [{R.EPOCH: e, R.VAL_CLEAN_ACC: a, R.VAL_CHANCE_ACC: 0.113} for e, a in enumerate([0.11, 0.12, 0.113, 0.6], 1)]
    rule = Degenerate(grace_epochs=2, margin=0.02)
    assert first_stop(StoppingPolicy([rule]), hist) == (3, "degenerate")
    assert not rule.decide(hist[:2]).stop  # within grace
    assert not rule.decide(hist[3:] and [hist[0], hist[1], hist[3]]).stop  # well above chance


def test_rules_are_the_spec_models_built_by_keyword():
    spec = StoppingSpec.model_validate({"delta_energy": {"enabled": True, "window": 5, "threshold": 3.0},
                                       "probe": {"enabled": True}})
    pol = policy_from_spec(spec)
    de = next(r for r in pol.rules if type(r).__name__ == "DeltaEnergyDivergence")
    assert (de.window, de.threshold) == (5, 3.0) and de is spec.delta_energy
    assert set(pol.watched) >= {R.energy_key("train", "delta_p5"), R.PROBE_PGD_ACC, R.VAL_CLEAN_ACC, R.VAL_CHANCE_ACC}


# ---------------------------------------------------------------- sub-epoch (window) reports, issue 15
def windows(deltas, per_epoch=4, steps_per_epoch=32):
    """A history of window reports (eval.report_every) and epoch records, as a trainable with k = 8 sends it."""
    hist, k = [], steps_per_epoch // per_epoch
    for i, d in enumerate(deltas, 1):
        step = i * k
        epoch = step / steps_per_epoch
        rec = {R.STEP: step, R.EPOCH: epoch, R.window_key(R.TRAIN_DELTA_MEAN): d, R.LOSS_TOTAL: 1.0}
        if i % per_epoch:
            rec[R.PARTIAL] = 1
        else:  # an epoch record: its epoch-level value too, and an integer epoch
            rec.update({R.EPOCH: int(epoch), R.TRAIN_DELTA_MEAN: 99.0})
        hist.append(rec)
    return hist


def test_a_rule_reads_the_window_series_when_the_trial_reports_windows():
    rule = DeltaEnergyDivergence(metric=R.TRAIN_DELTA_MEAN, grace_epochs=1, window=3, threshold=6.0, min_scale=0.05,
                                 rel_scale=0.1)
    hist = windows([-0.1, -0.11, -0.1, -0.12, -0.1, -0.11, -2.5, -3.0])  # the jump in the 3rd window of epoch 2
    assert first_stop(StoppingPolicy([rule]), hist) == (7, "delta_energy")
    assert hist[6][R.STEP] == 56 and R.PARTIAL in hist[6]  # mid-epoch: step 56 of 64
    assert set(rule.watched) == {R.TRAIN_DELTA_MEAN, R.window_key(R.TRAIN_DELTA_MEAN)}


def test_grace_counts_epochs_not_reports():
    rule = DeltaEnergyDivergence(metric=R.TRAIN_DELTA_MEAN, grace_epochs=1, window=2, threshold=2.0, min_scale=0.05,
                                 rel_scale=0.0)
    hist = windows([-0.1, -0.1, -5.0, -9.0, -20.0])  # diverges within the first epoch: grace holds until epoch 1 ends
    assert first_stop(StoppingPolicy([rule]), hist)[0] == 5  # step 40: the first report past 1 epoch


def test_an_epoch_level_rule_does_not_rejudge_its_last_epoch_on_window_reports():
    rule = ProbeCollapse(drop=0.1, grace_epochs=0)
    hist = [{R.EPOCH: 1, R.STEP: 32, R.PROBE_PGD_ACC: 0.5}, {R.EPOCH: 2, R.STEP: 64, R.PROBE_PGD_ACC: 0.45},
            {R.EPOCH: 2.25, R.STEP: 72, R.PARTIAL: 1, R.window_key(R.TRAIN_DELTA_MEAN): -0.1}]
    assert not rule.decide(hist).stop  # no new probe reading in the window report
    assert rule.decide(hist + [{R.EPOCH: 3, R.STEP: 96, R.PROBE_PGD_ACC: 0.2}]).reason == "probe_collapse"


def test_the_probe_rule_reads_epoch_records_unless_told_window():
    """Issue 25: at window resolution the probe's default constants stopped most healthy recipe runs early, so by
    default the rule reads the epoch records only; `resolution: window` makes it read every window's probe too."""
    hist = [{R.EPOCH: 1, R.STEP: 32, R.PROBE_PGD_ACC: 0.5, R.window_key(R.PROBE_PGD_ACC): 0.5},
            {R.EPOCH: 1.5, R.STEP: 48, R.PARTIAL: 1, R.window_key(R.PROBE_PGD_ACC): 0.1}]  # a noisy window reading
    assert not ProbeCollapse().decide(hist).stop and ProbeCollapse().watched == (R.PROBE_PGD_ACC,)
    assert ProbeCollapse(resolution="window").decide(hist).reason == "probe_collapse"
    assert set(ProbeCollapse(resolution="window").watched) == {R.PROBE_PGD_ACC, R.window_key(R.PROBE_PGD_ACC)}
