"""What a reused worker resets between trials (trainables.tune.worker), in this process, without Ray."""
from __future__ import annotations

import gc
import os
import weakref

import pytest
import torch

from trainables.tune import worker
from trainables.schema.config import RunConfig
from trainables.training.runtime import Runtime


@pytest.fixture
def fresh_worker(monkeypatch):
    """This process as a worker that has run no trial yet; its torch settings and gc put back afterwards."""
    monkeypatch.setattr(worker, "_process_defaults", None)
    monkeypatch.delenv(worker.THREAD_TIMEOUT_ENV, raising=False)
    before = worker.TorchSettings.current()
    yield before
    before.apply()
    gc.unfreeze()


def test_the_next_trial_gets_the_process_settings_back(fresh_worker):
    worker.begin_trial()
    other_threads = 1 if fresh_worker.threads != 1 else 2
    Runtime.from_config(RunConfig(threads=other_threads, deterministic=True))  # what a trial's config sets
    assert worker.TorchSettings.current() != fresh_worker
    worker.end_trial()
    worker.begin_trial()
    assert worker.TorchSettings.current() == fresh_worker


def test_a_finished_trials_model_is_freed_even_in_a_reference_cycle(fresh_worker):
    worker.begin_trial()
    model = torch.nn.Linear(4, 2)
    model.me = [model]  # a cycle: reference counting alone never frees it
    gone = weakref.ref(model)
    del model
    worker.end_trial()
    assert gone() is None


def test_objects_from_before_the_trial_are_frozen_and_the_thread_timeout_raised(fresh_worker):
    worker.begin_trial()
    assert gc.get_freeze_count() > 0
    assert os.environ[worker.THREAD_TIMEOUT_ENV] == worker.THREAD_TIMEOUT_S


def test_a_users_thread_timeout_is_kept(fresh_worker, monkeypatch):
    monkeypatch.setenv(worker.THREAD_TIMEOUT_ENV, "5")
    worker.begin_trial()
    assert os.environ[worker.THREAD_TIMEOUT_ENV] == "5"
