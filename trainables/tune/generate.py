"""The Ray Tune trainable of a generation study: generation knobs in, one report with ``gen/*`` metrics out.

A generation study searches σ, r, k, steps, η, momentum, τ … on one fixed classifier (the
``generation.checkpoint`` of the spec), with FID as the usual objective. The trial config is
``{"generation": {"checkpoint", "data_root", "config"}, "study": {...}}`` plus the searcher's dotted
overrides into the generation config (``"init.sigma": 0.02``) and ``__seed_index__``. There is
one report (``epoch`` 1): generation has no epochs to stop early.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from trainables.schema import records as R
from trainables.schema.generation import GenerationConfig
from trainables.schema.overrides import resolve_trial
from trainables.schema.trial import SEED_INDEX
from trainables.tune.trainable import load_sinks, node_id
from trainables.tune.worker import begin_trial, end_trial


def resolve_generation(config: dict[str, Any]) -> GenerationConfig:
    """The exact generation config of a trial: base + sampled overrides + seed offset."""
    return resolve_trial(GenerationConfig, config["generation"]["config"], config, config.get(SEED_INDEX, 0))


def generate_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: sample with this trial's knobs, report the metrics, log the grids."""
    from trainables.generation.run import generate, load_for_generation

    begin_trial()  # the worker may have run other trials: see trainables.tune.worker
    try:
        cfg = resolve_generation(config)
        model, data, _, _ = load_for_generation(config["generation"]["checkpoint"],
                                                config["generation"].get("data_root"))
        sinks = load_sinks(config, cfg)
        for s in sinks:
            s.on_start(restored_epoch=0, history=[])
        with tempfile.TemporaryDirectory() as d:
            result = generate(model, data, cfg, Path(d))
            metrics = {R.EPOCH: 1, **result.flat_metrics(R.GEN_PREFIX)}
            for s in sinks:
                s.on_record(metrics)
                s.on_artifacts(d, "generation")
            tune.report({**metrics, "node_id": node_id(), "pid": os.getpid()})
        for s in sinks:
            s.on_end([metrics])
    finally:
        model = data = None  # dropped before collecting, so a reused worker frees them now
        end_trial()
