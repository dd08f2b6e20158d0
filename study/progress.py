"""One console line per trial epoch and per trial end, instead of Ray's verbose tables."""
from __future__ import annotations

from ray.tune import Callback
from rich.console import Console

from trainables import records as R


class ProgressCallback(Callback):
    def __init__(self, metrics: list[str]) -> None:
        self.metrics = metrics
        self._console = None

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = Console(highlight=False)
        return self._console

    def __getstate__(self):
        return {"metrics": self.metrics, "_console": None}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        parts = [f"trial {trial.trial_id}", f"epoch {result.get(R.EPOCH)}"]
        parts += [f"{m} {result[m]:.3f}" for m in self.metrics if isinstance(result.get(m), (int, float))]
        for key, label in ((R.TRAIN_DELTA_MEAN, "ΔE"), (R.PROBE_PGD_ACC, "probe"), (R.TIME_EPOCH, "s")):
            if isinstance(result.get(key), (int, float)):
                parts.append(f"{label} {result[key]:.3g}")
        if result.get(R.STOP_REASON):
            parts.append(f"[bold yellow]stopped: {result[R.STOP_REASON]}[/]")
        self.console.print("  ".join(parts), soft_wrap=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.console.print(f"[red]trial {trial.trial_id} failed[/]: {trial.error_file or ''}")
