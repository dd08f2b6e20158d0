"""Ray Tune adapter of the stopping policy: a ``TrialScheduler`` that wraps an inner one (FIFO or ASHA).

The scheduler keeps each trial's monitored metrics, one entry per global step (a result repeated after a
restore replaces what followed it), asks the pure policy, and on a stop writes ``stop_reason``/``stop_epoch``/
``stop_step`` into the result it judged (the one the searcher sees next). Ray hands schedulers a flattened copy
of the result it stores, so the scheduler's own callback, ``recorder`` (which Ray calls right after the
scheduler, with the result it is about to store), writes the same fields into that stored result: the searcher,
the MLflow ledger and ``study status`` all read the reason from the trial's last result. The decisions live in
the scheduler instance; nothing is process-wide. Window reports
(``eval.report_every``) reach the policy only: the inner scheduler (ASHA) judges epoch records.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

from ray.tune import Callback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from study.stopping.rules import StoppingPolicy
from trainables.schema import records as R

log = logging.getLogger(__name__)

class DivergenceScheduler(TrialScheduler):
    """Stops trials whose ΔE diverges, whose CO probe collapses, or whose loss is NaN; else asks ``inner``."""

    def __init__(self, policy: StoppingPolicy, watched: list[str], inner: Optional[TrialScheduler] = None) -> None:
        super().__init__()
        self.policy = policy
        self.watched = sorted(set(watched) | {R.EPOCH, R.STEP, R.PARTIAL, R.NONFINITE, R.LOSS_TOTAL})
        self.inner = inner or FIFOScheduler()
        self.history: dict[str, list[dict]] = {}
        self.stops: dict[str, dict] = {}  # trial_id -> its stop, until ``recorder`` has written it into the stored result
        self.recorder = StopRecorder(self)  # register it with Ray's callbacks (study.run.engine does)

    # Ray calls these; everything not about results is the inner scheduler's business.
    def set_search_properties(self, metric, mode, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, **spec)

    def on_trial_add(self, tune_controller, trial):
        self.inner.on_trial_add(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial):
        self.inner.on_trial_error(tune_controller, trial)

    def on_trial_complete(self, tune_controller, trial, result):
        self.inner.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial):
        self.inner.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller):
        return self.inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        return "DivergenceScheduler over " + self.inner.debug_string()

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        hist = self.history.get(trial.trial_id)
        if hist is None:
            hist = self.history[trial.trial_id] = self._backfill(trial, result)
        epoch, step = result.get(R.EPOCH), result.get(R.STEP)
        hist[:] = _before(hist, R.STEP, step) if step is not None else _before(hist, R.EPOCH, epoch)
        hist.append({k: result[k] for k in self.watched if k in result})
        decision = self.policy.decide(hist)
        if decision.stop:
            self._file(trial.trial_id, result, decision.reason, epoch, decision.detail, step)
            return TrialScheduler.STOP
        if R.is_partial(result):
            return TrialScheduler.CONTINUE
        verdict = self.inner.on_trial_result(tune_controller, trial, result)
        last = (trial.config.get("run") or {}).get("epochs")
        if verdict == TrialScheduler.STOP and not (last and epoch is not None and epoch >= last):
            self._file(trial.trial_id, result, R.STOP_ASHA, epoch, "stopped by ASHA on the search metric", step)
        return verdict

    def _file(self, trial_id: str, result: dict, reason: str, epoch, detail: str, step=None) -> None:
        entry = {R.STOP_REASON: reason, R.STOP_EPOCH: epoch, R.STOP_STEP: step, "stop_detail": detail}
        result.update(entry)
        self.stops[trial_id] = entry
        log.info("stopping trial %s at epoch %s (step %s): %s (%s)", trial_id, epoch, step, reason, detail)

    def _backfill(self, trial, result: dict) -> list[dict]:
        """After a driver restart, recover the trial's earlier results from its result.json."""
        if (result.get(R.EPOCH) or 0) <= 1:
            return []
        path = Path(getattr(trial, "local_path", "") or "") / "result.json"
        hist = []
        try:
            for line in path.read_text().splitlines():
                r = json.loads(line)
                hist.append({k: r[k] for k in self.watched if k in r})
        except (OSError, ValueError):
            log.warning("no earlier results found for trial %s at %s", trial.trial_id, path)
        return hist


def _before(hist: list[dict], key: str, value) -> list[dict]:
    """The entries strictly before ``value`` of ``key`` (None: all): a result seen again replaces its successors."""
    return hist if value is None else [h for h in hist if h.get(key, -1) < value]


class StopRecorder(Callback):
    """A ``DivergenceScheduler``'s own callback: writes its stop into the result Ray is about to store as the
    trial's last (Ray gave the scheduler a copy of it)."""

    def __init__(self, scheduler: DivergenceScheduler) -> None:
        self.scheduler = scheduler

    def on_trial_result(self, iteration, trials, trial, result, **info):
        entry = self.scheduler.stops.pop(trial.trial_id, None)
        if entry is not None:
            result.update(entry)
