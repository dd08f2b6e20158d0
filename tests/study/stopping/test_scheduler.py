"""The Ray adapter of the stopping policy: history kept per global step, window reports judged by the policy
only, stop reason/epoch/step filed for the callbacks (no Ray cluster needed: Ray calls these methods)."""
from types import SimpleNamespace

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from study.stopping import DeltaEnergyDivergence, StoppingPolicy
from study.stopping.scheduler import DivergenceScheduler
from trainables.schema import records as R

METRIC = R.TRAIN_DELTA_MEAN


class Inner(FIFOScheduler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_trial_result(self, tune_controller, trial, result):
        self.seen.append(result[R.STEP])
        return TrialScheduler.CONTINUE


def report(step, value, partial=True):
    r = {R.STEP: step, R.EPOCH: step / 32 if partial else step // 32, R.window_key(METRIC): value}
    return {**r, R.PARTIAL: 1} if partial else r


def scheduler():
    rule = DeltaEnergyDivergence(metric=METRIC, grace_epochs=0, window=2, threshold=3.0, min_scale=0.05, rel_scale=0.0)
    inner = Inner()
    return DivergenceScheduler(StoppingPolicy([rule]), list(rule.watched), inner), inner


def test_history_is_kept_by_step_and_a_repeated_step_replaces_what_followed():
    sched, inner = scheduler()
    trial = SimpleNamespace(trial_id="t1", config={"run": {"epochs": 3}}, local_path="")
    for step, v, partial in ((8, -0.1, True), (16, -0.1, True), (24, -0.1, True), (32, -0.1, False),
                             (24, -0.1, True)):  # a restored trial repeats the windows after its checkpoint
        assert sched.on_trial_result(None, trial, report(step, v, partial)) == TrialScheduler.CONTINUE
    assert [h[R.STEP] for h in sched.history["t1"]] == [8, 16, 24]
    assert inner.seen == [32]  # window reports never reach the inner scheduler (ASHA judges epoch records)


def test_a_window_report_stops_the_trial_with_its_epoch_and_step():
    sched, _ = scheduler()
    trial = SimpleNamespace(trial_id="t2", config={"run": {"epochs": 3}}, local_path="")
    for step in (8, 16, 24):
        sched.on_trial_result(None, trial, report(step, -0.1))
    judged = report(40, -3.0)
    assert sched.on_trial_result(None, trial, judged) == TrialScheduler.STOP
    assert (judged[R.STOP_REASON], judged[R.STOP_EPOCH], judged[R.STOP_STEP]) == ("delta_energy", 40 / 32, 40)
    stored = report(40, -3.0)  # Ray stores another dict than the flattened copy it gives the scheduler
    sched.recorder.on_trial_result(0, [], trial, stored)
    assert (stored[R.STOP_REASON], stored[R.STOP_EPOCH], stored[R.STOP_STEP]) == ("delta_energy", 40 / 32, 40)
    assert sched.stops == {}  # written once, then forgotten: nothing outlives the trial's stop
