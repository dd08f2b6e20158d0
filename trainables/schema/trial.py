"""The keys a trial's config and results carry between the Ray trainables and the study layer, and the
exact run config of a trial: defined here once so that readers (``study status``, export, the report)
need neither Ray nor the trainable to read them.

A trial config is ``{"run": <RunConfig dict>, "study": {...}}`` plus the searcher's dotted overrides
(``"der.weight": 0.3``), the seed index and the Optuna trial number.
"""
from __future__ import annotations

from typing import Any

from trainables.schema.config import RunConfig
from trainables.schema.overrides import resolve_trial

SEED_INDEX = "__seed_index__"  # which seed of a configuration (``search.seeds``) this trial is
TRIAL_NUMBER = "__trial_number__"  # the Optuna trial number the configuration belongs to
FAULT_KEY = "fault"  # a report saying the trial is held by a fault of its surroundings
WARNING_KEY = "warning"  # a report carrying a warning for the console (a torn checkpoint skipped on restore)


def resolve_config(config: dict[str, Any]) -> RunConfig:
    """The exact run config of a trial: base run + sampled overrides + seed offset (what export writes)."""
    return resolve_trial(RunConfig, config["run"], config, config.get(SEED_INDEX, 0))
