"""The Ray Tune trainable: config in, ``Trainer`` epochs out, one report (with checkpoint) per epoch, and with
``eval.report_every`` a report without checkpoint after every k-th step (``trainables.window``).

A thin adapter. The trial config is ``{"run": <RunConfig dict>, "study": {...}}`` plus the
searcher's dotted overrides (``"der.weight": 0.3``) and ``__seed_index__``. Record sinks (the
MLflow child run) are plugged in by import path from ``config["study"]["sinks"]``, so this
module never imports MLflow or the study package. Importing it imports Ray; ``trainables``
itself does not. One worker process may run many trials in turn (Ray's ``reuse_actors``):
``trainables.worker`` says what each trial resets, and the split data comes from the
process's cache (``trainables.data.cache``). Every report carries a checkpoint: it is what a
restarted worker or a resumed study continues from, and the last one of every trial, stopped or
not, is the model that ``study generate --run`` and the model registry read.
"""
from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from trainables import records as R
from trainables.config import RunConfig
from trainables.overrides import resolve_trial
from trainables.timing import PhaseClock
from trainables.worker import begin_trial, end_trial

SEED_INDEX = "__seed_index__"
TRIAL_NUMBER = "__trial_number__"
HISTORY_FILE = "records.jsonl"


def resolve_config(config: dict[str, Any]) -> RunConfig:
    """The exact run config of a trial: base run + sampled overrides + seed offset (what export writes)."""
    return resolve_trial(RunConfig, config["run"], config, config.get(SEED_INDEX, 0))


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
    """The trial's data (from this process's split cache), its trainer, and what its checkpoint restores."""
    with clock.phase("imports"):  # paid by a worker's first trial only
        from trainables.data import build_data
        from trainables.data.cache import cached_split
        from trainables.runtime import Runtime
        from trainables.trainer import Trainer

    with clock.phase("data"):
        rt = Runtime.from_config(cfg)
        data = build_data(cfg.data, cfg.batch_size, rt.device, cfg.seed, rt.channels_last, cached_split(cfg.data))
    with clock.phase("model"):
        trainer = Trainer(cfg, data=data)
    history: list[dict] = []
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with clock.phase("restore"), ckpt.as_directory() as d:
            trainer.load(d)
            hist_path = Path(d) / HISTORY_FILE
            if hist_path.exists():
                history = [json.loads(x) for x in hist_path.read_text().splitlines() if x.strip()]
    return trainer, history


def _epochs(trainer, cfg: RunConfig, sinks: list, history: list[dict], clock: PhaseClock) -> None:
    """Train, and after every epoch log to the sinks and report with a checkpoint (a window report: without);
    stop on a stop reason."""
    epochs = trainer.epochs()
    while True:
        with clock.phase("epoch"):
            record = next(epochs, None)
        if record is None:
            return
        clock.add("training", record.metrics.get(R.TIME_TRAIN, 0.0))
        metrics = record.flat()
        if record.metrics.get(R.NONFINITE):
            metrics.update({R.STOP_REASON: R.STOP_NAN, R.STOP_EPOCH: record.epoch, R.STOP_STEP: record.step})
        elif trainer.epoch == cfg.epochs and not record.partial:
            with clock.phase("final_eval"):
                metrics.update(_finish(trainer, cfg, sinks))
        history.append(metrics)
        with clock.phase("mlflow_log"):
            for s in sinks:
                s.on_record(metrics)
        if record.partial:  # a window report: no checkpoint; the scheduler may stop the trial here
            with clock.phase("report"):
                tune.report({**metrics, "node_id": node_id(), "pid": os.getpid()})
            if R.STOP_REASON in metrics:
                return
            continue
        with tempfile.TemporaryDirectory() as d:
            with clock.phase("checkpoint"):
                trainer.save(d)
                (Path(d) / HISTORY_FILE).write_text("".join(json.dumps(h) + "\n" for h in history))
            with clock.phase("report"):
                tune.report({**metrics, "node_id": node_id(), "pid": os.getpid()},
                            checkpoint=tune.Checkpoint.from_directory(d))
        if R.STOP_REASON in metrics:
            return


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable (use ``tune.with_resources`` for cpu/gpu)."""
    clock = PhaseClock(tune.get_context().get_trial_id())
    begin_trial()
    trainer = None
    try:
        cfg = resolve_config(config)
        trainer, history = _build(cfg, clock)
        with clock.phase("mlflow_open"):
            sinks = load_sinks(config, cfg)
            for s in sinks:
                s.on_start(restored_epoch=trainer.epoch, history=history)
        _epochs(trainer, cfg, sinks, history, clock)
        with clock.phase("mlflow_close"):
            for s in sinks:
                s.on_end(history)
    finally:  # also when the scheduler stopped the trial: Ray unwinds it from inside tune.report
        with clock.phase("cleanup"):
            del trainer
            end_trial()
        clock.write()
