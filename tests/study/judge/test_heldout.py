"""The held-out judgement of stopping rules (study.judge.heldout): figures as defined, sub-epoch steps, and
constants chosen on the calibration half only (changing the held-out half never changes the choice)."""
from __future__ import annotations

from study.judge.calibrate import grid
from study.judge.heldout import AttackGap, evaluate, judge, split_by_seed, stop_step
from study.stopping.rules import DeltaEnergyDivergence
from trainables.schema import records as R

SPE, WINDOWS = 8, 4  # steps per epoch, window reports per epoch (every 2 steps)
DP5 = R.energy_key("train", "delta_p5")


def trace(seed: int, robust: list[float], jump_at: float | None = None, size: float = 1.0) -> dict:
    """Records of a run: window reports (ΔE p5 flat at 0, ``size`` from epoch ``jump_at`` on) and epoch records
    (val/robust_acc per epoch, the epoch's last window)."""
    recs = []
    for e, acc in enumerate(robust):
        for w in range(1, WINDOWS + 1):
            t = e + w / WINDOWS
            win = {R.window_key(DP5): size if jump_at is not None and t >= jump_at else 0.0,
                   R.window_key(R.TRAIN_ADV_ACC): 0.5, R.window_key(R.PROBE_PGD_ACC): 0.4}
            step = int(round(t * SPE))
            if w < WINDOWS:
                recs.append({R.EPOCH: t, R.STEP: step, R.PARTIAL: 1, **win})
            else:
                recs.append({R.EPOCH: e + 1, R.STEP: step, R.VAL_ROBUST_ACC: acc, **win})
    return {"seed": seed, "records": recs}


COLLAPSE = [0.3, 0.4, 0.05, 0.02, 0.01, 0.01]  # classic CO: collapse read at the end of epoch 3 (step 24)
HEALTHY = [0.3, 0.4, 0.45, 0.5, 0.5, 0.55]
RULE = dict(grace_epochs=1, window=3, min_scale=0.1, rel_scale=0.1)


def test_a_window_report_stops_mid_epoch_and_the_figures_follow_their_definitions():
    rule = DeltaEnergyDivergence(metric=DP5, threshold=4.0, **RULE)
    caught = trace(0, COLLAPSE, jump_at=2.5)
    assert stop_step(rule, caught["records"]) == 20  # epoch 2.5: mid-epoch, 4 steps before the epoch ends
    false_alarm = trace(1, HEALTHY, jump_at=3.25)
    quiet = trace(2, HEALTHY)
    late = trace(3, COLLAPSE, jump_at=5.0)  # fires two epochs after the collapse: not caught
    traces = [caught, false_alarm, quiet, late]
    v = judge([stop_step(rule, t["records"]) for t in traces], traces)
    assert (v.collapsed, v.healthy, v.stopped, v.caught, v.false_alarms) == (2, 2, 3, 1, 1)
    assert (v.recall, v.precision, v.false_alarm_rate) == (0.5, 1 / 3, 0.5)
    assert v.lead_steps == 24 - 20 and v.lead_epochs == 0.5
    assert v.steps_saved == ((48 - 20) + (48 - 26) + (48 - 40)) / (4 * 48)


def test_the_attack_gap_reads_the_window_series():
    t = trace(0, HEALTHY)
    t["records"][9][R.window_key(R.TRAIN_ADV_ACC)] = 0.95  # epoch 2.5: FGSM finds nothing, PGD still does
    assert stop_step(AttackGap(gap=0.5, grace_epochs=1), t["records"]) == 20


def corpus(held_out_jump: float) -> list[dict]:
    """Even seeds (calibration): collapses jump by 1.0 (score 10 at the 0.1 scale floor), one healthy trial per
    seed wobbles by 0.3 (score 3). Odd seeds (held out): collapses jump by ``held_out_jump``, no wobble."""
    out = []
    for seed in range(6):
        if seed % 2 == 0:
            out += [trace(seed, COLLAPSE, jump_at=2.5), trace(seed, HEALTHY, jump_at=3.25, size=0.3), trace(seed, HEALTHY)]
        else:
            out += [trace(seed, COLLAPSE, jump_at=2.5, size=held_out_jump), trace(seed, HEALTHY), trace(seed, HEALTHY)]
    return out


def test_constants_are_chosen_on_the_calibration_half_only():
    make = lambda **p: DeltaEnergyDivergence(metric=DP5, **RULE, **p)  # noqa: E731
    constants = grid(threshold=[2.0, 5.0, 9.5, 20.0])
    cal, held = split_by_seed(corpus(1.0), [0, 2, 4])
    assert {t["seed"] for t in cal} == {0, 2, 4} and {t["seed"] for t in held} == {1, 3, 5}
    results = [evaluate(make, constants, corpus(jump), [0, 2, 4]) for jump in (1.0, 0.3, 0.05)]
    # on the calibration half 2.0 stops the wobbling healthy trials (false-alarm rate 0.5); 5.0 is the first
    # constant that catches every collapse within the false-alarm budget, whatever the held-out half holds
    assert [r["constants"] for r in results] == [{"threshold": 5.0}] * 3
    assert all(r["calibration"].row() == results[0]["calibration"].row() for r in results)
    assert results[0]["calibration"].recall == 1.0 and results[0]["calibration"].false_alarm_rate == 0.0
    # ...and is judged honestly there: a held-out half whose collapses move ΔE less is caught less
    assert [r["held_out"].recall for r in results] == [1.0, 0.0, 0.0]
    assert evaluate(make, [{"threshold": 2.0}], corpus(0.3), [1, 3, 5])["calibration"].recall == 1.0
