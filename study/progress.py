"""One console line per trial epoch and per trial end, instead of Ray's verbose tables.

Trials are named as everywhere else (``trial-3``: the Optuna trial number, as in the status table,
the report and the MLflow run names), and every figure carries its unit.
"""
from __future__ import annotations

from ray.tune import Callback
from rich.markup import escape

from study.cli.display import console, fmt, trial_label
from study.stopping.outcome import stop_phrase
from trainables import records as R
from trainables.tune import SEED_INDEX, TRIAL_NUMBER

SHOWN = ((R.TRAIN_DELTA_MEAN, "ΔE"), (R.PROBE_PGD_ACC, "probe"))


def trial_name(trial) -> str:
    """``trial-N`` from the Optuna number the searcher gave the trial (Ray's id if it has none)."""
    config = trial.config or {}
    number = config.get(TRIAL_NUMBER)
    if number is None:
        return f"trial {trial.trial_id}"
    return trial_label(number, int(config.get(SEED_INDEX, 0) or 0))


class ProgressCallback(Callback):
    def __init__(self, metrics: list[str], epochs: int | None = None) -> None:
        self.metrics = metrics
        self.epochs = epochs
        self._console = None

    @property
    def console(self):
        if self._console is None:
            self._console = console()
        return self._console

    def __getstate__(self):
        return {"metrics": self.metrics, "epochs": self.epochs, "_console": None}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if R.is_partial(result) and not result.get(R.STOP_REASON):
            return  # window reports (eval.report_every) show only when they stop the trial
        epochs = getattr(self, "epochs", None)  # absent in callbacks pickled by an older version
        epoch = result.get(R.EPOCH)
        epoch = f"{epoch:.2f}" if isinstance(epoch, float) and not float(epoch).is_integer() else epoch
        parts = [trial_name(trial), f"epoch {epoch}" + (f"/{epochs}" if epochs else "")]
        parts += [f"{m} {fmt(m, result[m])}" for m in self.metrics if isinstance(result.get(m), (int, float))]
        parts += [f"{label} {fmt(key, result[key])}" for key, label in SHOWN if isinstance(result.get(key), (int, float))]
        if isinstance(result.get(R.TIME_EPOCH), (int, float)):
            parts.append(f"{result[R.TIME_EPOCH]:.1f} s/epoch")
        if result.get(R.STOP_REASON):
            phrase = stop_phrase(result[R.STOP_REASON], step=result.get(R.STOP_STEP))
            parts.append(f"[bold yellow]{escape(phrase)}[/]")
        self.console.print("  ".join(parts), soft_wrap=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.console.print(f"[red]{trial_name(trial)} failed[/] (Ray trial {trial.trial_id}): {trial.error_file or ''}",
                           soft_wrap=True)
