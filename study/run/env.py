"""Process defaults for the stack, set before Ray or MLflow are imported (a user's own settings win)."""
from __future__ import annotations

import logging
import os

DEFAULTS = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",  # one checkpoint per epoch is intended
    "RAY_AIR_NEW_OUTPUT": "0",  # our ProgressCallback prints the per-epoch lines instead of Tune's tables
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # A sub-epoch window report (eval.report_every) holds no validation metric, which Tune's strict check refuses;
    # the spec already refuses unknown metric names in its own words (study.spec.spec, with a did-you-mean).
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
}


def apply() -> None:
    for k, v in DEFAULTS.items():
        os.environ.setdefault(k, v)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
