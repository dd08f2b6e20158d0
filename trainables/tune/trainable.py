"""The Ray Tune trainable: config in, ``Trainer`` epochs out, one report (with checkpoint) per epoch, and with
``eval.report_every`` a report without checkpoint after every k-th step (``trainables.training.window``).

A thin adapter. The trial config is ``{"run": <RunConfig dict>, "study": {...}}`` plus the
searcher's dotted overrides (``"der.weight": 0.3``) and ``__seed_index__``. Record sinks (the
MLflow child run) are plugged in by import path from ``config["study"]["sinks"]``, so this
module never imports MLflow or the study package. Importing it imports Ray; ``trainables``
itself does not. One worker process may run many trials in turn (Ray's ``reuse_actors``):
``trainables.tune.worker`` says what each trial resets, and the split data comes from the
process's cache (``trainables.data.cache``). Every report carries a checkpoint: it is what a
restarted worker or a resumed study continues from, and the last one of every trial, stopped or
not, is the model that ``study generate --run`` and the model registry read. A restore takes the newest whole
checkpoint (``trainables.training.resume``: a torn one is skipped for the one before it, with a warning), and a fault of
the trial's surroundings (a full disk, a tracking server gone: ``trainables.faults``) holds the trial for the
driver to stop the study cleanly instead of failing it (``_hold``).
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ray import tune

from trainables.schema import records as R
from trainables.schema.config import RunConfig
from trainables.faults import EnvFault, environmental
from trainables.schema.trial import FAULT_KEY, SEED_INDEX, TRIAL_NUMBER, WARNING_KEY, resolve_config
from trainables.training.resume import HISTORY_FILE, Restored, restore, write_manifest
from trainables.tune.timing import PhaseClock
from trainables.tune.worker import begin_trial, end_trial

log = logging.getLogger(__name__)
HOLD_S = 600.0


def load_sinks(config: dict[str, Any], cfg: RunConfig) -> list:
    """The record sinks ``config["study"]["sinks"]`` names, built for this trial (imported by path)."""
    sinks = []
    for spec in (config.get("study") or {}).get("sinks", []):
        module, attr = spec["factory"].split(":")
        factory = getattr(importlib.import_module(module), attr)
        sinks.append(factory(cfg=cfg, trial_id=tune.get_context().get_trial_id(),
                             trial_number=config.get(TRIAL_NUMBER), seed_index=int(config.get(SEED_INDEX, 0)),
                             **spec.get("kwargs", {})))
    return sinks


def node_id() -> str:
    """The Ray node this worker runs on (reported with every result)."""
    import ray

    return ray.get_runtime_context().get_node_id()


def _finish(trainer, cfg: RunConfig, sinks: list) -> dict:
    """After the last epoch: test evaluation and (if configured) generation, whose files go to the sinks."""
    out = trainer.final_eval() if cfg.eval.final else {}
    if cfg.generate is not None:
        with tempfile.TemporaryDirectory() as d:
            out.update(trainer.generate(Path(d)).flat_metrics())
            for s in sinks:
                s.on_artifacts(d, "generation")
    return out


def _build(cfg: RunConfig, clock: PhaseClock):
    """The trial's data (from this process's split cache), its trainer, and what its checkpoint restored
    (``trainables.training.resume``: the record history, and the torn checkpoints skipped)."""
    with clock.phase("imports"):  # paid by a worker's first trial only
        from trainables.data import build_data
        from trainables.data.cache import cached_split
        from trainables.training.runtime import Runtime
        from trainables.training.trainer import Trainer

    with clock.phase("data"):
        rt = Runtime.from_config(cfg)
        data = build_data(cfg.data, cfg.batch_size, rt.device, cfg.seed, rt.channels_last, cached_split(cfg.data))
    with clock.phase("model"):
        trainer = Trainer(cfg, data=data)
    restored = Restored()
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with clock.phase("restore"):  # the newest whole checkpoint: a torn one is skipped with a warning
            restored = restore(ckpt, trainer.load)
        if not restored.used:  # none was whole: from epoch 1, with a trainer no half-done load touched
            with clock.phase("model"):
                trainer = Trainer(cfg, data=data)
    return trainer, restored


def _epochs(trainer, cfg: RunConfig, sinks: list, history: list[dict], clock: PhaseClock) -> None:
    """Train, and after every epoch log to the sinks and report with a checkpoint (a window report: without).
    Whether to stop is the driver's decision (``study.stopping``: a non-finite loss included); Ray ends the
    trial at the report the scheduler stopped it on. A model whose loss went non-finite is not evaluated."""
    epochs = trainer.epochs()
    while True:
        with clock.phase("epoch"):
            record = next(epochs, None)
        if record is None:
            return
        clock.add("training", record.metrics.get(R.TIME_TRAIN, 0.0))
        metrics = record.flat()
        if trainer.epoch == cfg.epochs and not record.partial and not record.metrics.get(R.NONFINITE):
            with clock.phase("final_eval"):
                metrics.update(_finish(trainer, cfg, sinks))
        history.append(metrics)
        with clock.phase("mlflow_log"):
            for s in sinks:
                s.on_record(metrics)
        if record.partial:  # a window report: no checkpoint; the scheduler may stop the trial here
            with clock.phase("report"):
                tune.report({**metrics, "node_id": node_id(), "pid": os.getpid()})
            continue
        with tempfile.TemporaryDirectory() as d:
            with clock.phase("checkpoint"):
                trainer.save(d)
                (Path(d) / HISTORY_FILE).write_text("".join(json.dumps(h) + "\n" for h in history))
                write_manifest(d)  # last: a folder whose copy into the storage was cut short is seen as torn
            with clock.phase("report"):
                tune.report({**metrics, "node_id": node_id(), "pid": os.getpid()},
                            checkpoint=tune.Checkpoint.from_directory(d))


def _hold(fault: EnvFault, error: BaseException) -> None:
    """A fault of the surroundings (a full disk, a server that went away): tell the driver with a report of
    its own (partial, so no rule or searcher reads it as an epoch) and wait to be stopped, rather than fail.
    The driver (``study.run.faultwatch``) stops the study cleanly, so the trial stays unfinished and `study resume`
    continues it from its last checkpoint, instead of it being recorded as failed. Without a driver that
    stops it in ``HOLD_S`` the error is raised after all."""
    log.warning("trial held by a fault of its surroundings: %s", fault)
    try:
        tune.report({R.PARTIAL: 1, FAULT_KEY: json.dumps(fault.as_dict()), "pid": os.getpid()})
    except Exception:  # noqa: BLE001 - the report itself failed: fail the trial with the original error
        raise error from None
    deadline = time.monotonic() + HOLD_S
    while time.monotonic() < deadline:
        time.sleep(0.5)
    raise error


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable (use ``tune.with_resources`` for cpu/gpu)."""
    try:
        _train(config)
    except Exception as e:  # noqa: BLE001 - only faults of the surroundings are held; everything else re-raised
        fault = environmental(e)
        if fault is None:
            raise
        _hold(fault, e)


def _train(config: dict[str, Any]) -> None:
    clock = PhaseClock(tune.get_context().get_trial_id())
    begin_trial()
    trainer = None
    try:
        cfg = resolve_config(config)
        trainer, restored = _build(cfg, clock)
        history = restored.history
        with clock.phase("mlflow_open"):
            sinks = load_sinks(config, cfg)
            for s in sinks:
                s.on_start(restored_epoch=trainer.epoch, history=history)
                if restored.warning and hasattr(s, "on_warning"):
                    s.on_warning("checkpoint", restored.warning)
        if restored.warning:  # the driver prints it (study.run.faultwatch); partial: no rule or searcher reads it
            tune.report({R.PARTIAL: 1, WARNING_KEY: restored.warning, "pid": os.getpid()})
        _epochs(trainer, cfg, sinks, history, clock)
        with clock.phase("mlflow_close"):
            for s in sinks:
                s.on_end(history)
    finally:  # also when the scheduler stopped the trial: Ray unwinds it from inside tune.report
        with clock.phase("cleanup"):
            del trainer
            end_trial()
        clock.write()
