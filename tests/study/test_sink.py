"""``ChildRunSink`` (the worker side of tracking) against a fake MLflow client that records its calls: the
child run it creates, epoch metrics at the epoch, window statistics at the global step, the stop reason as a
tag, and a restarted trial appending to its run without repeating a step."""
from types import SimpleNamespace

import pytest

from study.tracking import sink as sink_module
from study.tracking.common import PARENT_TAG, STUDY_TAG, TRIAL_TAG
from study.tracking.sink import ChildRunSink
from trainables.schema import records as R

WINDOW = R.window_key(R.TRAIN_DELTA_MEAN)


class FakeClient:
    """The MLflow client methods the sink uses, recording every call; ``runs`` are found by ``search_runs``."""

    def __init__(self, runs=(), history=None):
        self.runs = list(runs)
        self.history = history or {}  # metric key -> steps already logged
        self.calls = []

    def search_runs(self, experiment_ids, filter_string, max_results):
        self.calls.append(("search_runs", experiment_ids, filter_string))
        return [r for r in self.runs if f"'{r.data.tags[TRIAL_TAG]}'" in filter_string]

    def create_run(self, experiment_id, tags, run_name):
        self.calls.append(("create_run", experiment_id, tags, run_name))
        run = SimpleNamespace(info=SimpleNamespace(run_id="new-run"), data=SimpleNamespace(tags=tags))
        self.runs.append(run)
        return run

    def update_run(self, run_id, status):
        self.calls.append(("update_run", run_id, status))

    def get_metric_history(self, run_id, key):
        return [SimpleNamespace(step=s) for s in self.history.get(key, [])]

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        self.calls.append(("log_batch", run_id, list(metrics), list(params), list(tags)))

    def log_artifact(self, run_id, path):
        self.calls.append(("log_artifact", run_id, path.rsplit("/", 1)[-1]))

    def log_artifacts(self, run_id, directory, artifact_path):
        self.calls.append(("log_artifacts", run_id, directory, artifact_path))

    def batches(self):
        """(step, metric keys, tags) of each metric batch logged."""
        out = []
        for c in self.calls:
            if c[0] == "log_batch" and (c[2] or c[4]):
                steps = {m.step for m in c[2]}
                out.append((steps.pop() if steps else None, sorted(m.key for m in c[2]),
                            {t.key: t.value for t in c[4]}))
        return out


class FakeConfig:
    """The two things the sink asks of a RunConfig."""

    def resolved(self):
        return self

    def model_dump(self, mode):
        return {"epochs": 3, "optim": {"lr": 0.1}}


def make_sink(monkeypatch, fake, seed_index=0):
    monkeypatch.setattr(sink_module, "client", lambda uri: fake)
    return ChildRunSink(FakeConfig(), trial_id="t1", tracking_uri="sqlite:///unused.db", experiment_id="7",
                        parent_run_id="parent", study="tiny", trial_number=3, seed_index=seed_index)


def epoch(e, **more):
    return {R.EPOCH: e, R.STEP: 32 * e, R.VAL_ROBUST_ACC: 0.1 * e, **more}


def test_a_new_trial_creates_its_child_run_with_params_and_config(monkeypatch):
    fake = FakeClient()
    s = make_sink(monkeypatch, fake, seed_index=1)
    s.on_start(0, [])
    (create,) = [c for c in fake.calls if c[0] == "create_run"]
    _, experiment, tags, name = create
    assert experiment == "7" and name == "trial-3-seed1"
    assert tags == {PARENT_TAG: "parent", TRIAL_TAG: "t1", STUDY_TAG: "tiny", "optuna_trial": "3", "seed_index": "1"}
    params = {p.key: p.value for c in fake.calls if c[0] == "log_batch" for p in c[3]}
    assert params == {"epochs": "3", "optim.lr": "0.1"}
    assert ("log_artifact", "new-run", "config.yaml") in fake.calls
    assert s.run_id == "new-run"


def test_epoch_metrics_at_the_epoch_window_statistics_at_the_step_and_no_repeats(monkeypatch):
    fake = FakeClient()
    s = make_sink(monkeypatch, fake)
    s.on_start(0, [])
    s.on_record(epoch(1))
    s.on_record({R.EPOCH: 1.25, R.STEP: 40, R.PARTIAL: 1, WINDOW: -0.1, R.WINDOW_STEPS: 8})
    s.on_record({R.EPOCH: 1.25, R.STEP: 40, R.PARTIAL: 1, WINDOW: -0.1, R.WINDOW_STEPS: 8})  # repeated: dropped
    s.on_record(epoch(1))  # repeated: dropped
    s.on_record(epoch(2, **{WINDOW: -0.2, R.WINDOW_STEPS: 24}))
    assert fake.batches() == [
        (1, sorted([R.EPOCH, R.STEP, R.VAL_ROBUST_ACC]), {}),
        (40, sorted([WINDOW, R.WINDOW_STEPS]), {}),
        (64, sorted([WINDOW, R.WINDOW_STEPS]), {}),
        (2, sorted([R.EPOCH, R.STEP, R.VAL_ROBUST_ACC]), {}),
    ]


def test_the_stop_reason_is_a_tag_of_the_stopping_batch(monkeypatch):
    fake = FakeClient()
    s = make_sink(monkeypatch, fake)
    s.on_start(0, [])
    s.on_record(epoch(1, **{R.STOP_REASON: R.STOP_NAN}))
    ((step, keys, tags),) = fake.batches()
    assert step == 1 and tags == {R.STOP_REASON: R.STOP_NAN}
    assert R.STOP_REASON not in keys  # a string: a tag, not a metric


def test_a_restarted_trial_appends_to_its_run(monkeypatch):
    existing = SimpleNamespace(info=SimpleNamespace(run_id="old-run"), data=SimpleNamespace(tags={TRIAL_TAG: "t1"}))
    fake = FakeClient(runs=[existing], history={R.EPOCH: [1, 2], R.WINDOW_STEPS: [40]})
    s = make_sink(monkeypatch, fake)
    s.on_start(2, [epoch(1), {R.EPOCH: 1.25, R.STEP: 40, R.PARTIAL: 1, WINDOW: -0.1, R.WINDOW_STEPS: 8},
                   epoch(2), epoch(3)])
    assert not [c for c in fake.calls if c[0] == "create_run"]
    assert ("update_run", "old-run", "RUNNING") in fake.calls
    assert not [c for c in fake.calls if c[0] == "log_batch" and c[3]]  # params are not logged again
    assert fake.batches() == [(3, sorted([R.EPOCH, R.STEP, R.VAL_ROBUST_ACC]), {})]
    assert s.run_id == "old-run"


def test_artifacts_go_to_the_run(monkeypatch):
    fake = FakeClient()
    s = make_sink(monkeypatch, fake)
    s.on_start(0, [])
    s.on_artifacts("/tmp/gen", "generation")
    assert fake.calls[-1] == ("log_artifacts", "new-run", "/tmp/gen", "generation")


@pytest.mark.parametrize("method", ["search_runs", "create_run", "update_run", "get_metric_history", "log_batch",
                                    "log_artifact", "log_artifacts"])
def test_the_fake_has_the_real_clients_methods(method):
    """The fake stands for mlflow's MlflowClient: each method it fakes must exist there."""
    from mlflow.tracking import MlflowClient

    assert callable(getattr(MlflowClient, method, None))
