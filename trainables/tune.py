"""The Ray Tune trainable: config in, ``Trainer`` epochs out, one report (with checkpoint) per epoch.

A thin adapter. The trial config is ``{"run": <RunConfig dict>, "study": {...}}`` plus the
searcher's dotted overrides (``"der.weight": 0.3``) and ``__seed_index__``. Record sinks (the
MLflow child run) are plugged in by import path from ``config["study"]["sinks"]``, so this
module never imports MLflow or the study package. Importing it imports Ray; ``trainables``
itself does not.
"""
from __future__ import annotations

import gc
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

SEED_INDEX = "__seed_index__"
TRIAL_NUMBER = "__trial_number__"
HISTORY_FILE = "records.jsonl"


def resolve_config(config: dict[str, Any]) -> RunConfig:
    """The exact run config of a trial: base run + sampled overrides + seed offset (what export writes)."""
    return resolve_trial(RunConfig, config["run"], config, config.get(SEED_INDEX, 0))


def _load_sinks(config: dict[str, Any], cfg: RunConfig) -> list:
    sinks = []
    for spec in (config.get("study") or {}).get("sinks", []):
        module, attr = spec["factory"].split(":")
        factory = getattr(importlib.import_module(module), attr)
        sinks.append(factory(cfg=cfg, trial_id=tune.get_context().get_trial_id(),
                             trial_number=config.get(TRIAL_NUMBER), seed_index=int(config.get(SEED_INDEX, 0)),
                             **spec.get("kwargs", {})))
    return sinks


def _node_id() -> str:
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


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable (use ``tune.with_resources`` for cpu/gpu)."""
    import torch

    from trainables.trainer import Trainer

    cfg = resolve_config(config)
    trainer = Trainer(cfg)
    history: list[dict] = []
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            trainer.load(d)
            hist_path = Path(d) / HISTORY_FILE
            if hist_path.exists():
                history = [json.loads(x) for x in hist_path.read_text().splitlines() if x.strip()]
    sinks = _load_sinks(config, cfg)
    for s in sinks:
        s.on_start(restored_epoch=trainer.epoch, history=history)
    try:
        for record in trainer.epochs():
            metrics = record.flat()
            if record.metrics.get(R.NONFINITE):
                metrics.update({R.STOP_REASON: "nan", R.STOP_EPOCH: record.epoch})
            elif trainer.epoch == cfg.epochs:
                metrics.update(_finish(trainer, cfg, sinks))
            history.append(metrics)
            for s in sinks:
                s.on_record(metrics)
            with tempfile.TemporaryDirectory() as d:
                trainer.save(d)
                (Path(d) / HISTORY_FILE).write_text("".join(json.dumps(h) + "\n" for h in history))
                tune.report({**metrics, "node_id": _node_id(), "pid": os.getpid()},
                            checkpoint=tune.Checkpoint.from_directory(d))
            if R.STOP_REASON in metrics:
                break
        for s in sinks:
            s.on_end(history)
    finally:
        del trainer
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
