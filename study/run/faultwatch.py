"""The driver's side of a fault of the surroundings during a study: stop the study cleanly, keep the fault.

A trial whose surroundings fail (its checkpoint meets a full disk, its tracking server went away) is held
by the trainable and says so in a report of its own (``trainables.tune.trainable._hold``); a trial that fails by
such a fault all the same (an error Ray raised around it, a study started before issue 31) is seen when it
is retried or errors. ``FaultWatch`` then stops the whole study the way Ctrl-C does (Ray Tune saves its
state, the trials in flight stay unfinished, `study resume` continues them from their checkpoints) rather
than letting the next trials meet the same fault one after another. Every few seconds it also checks the
workspace itself (``study.console.faults.health``: there, writable, with room), to stop before the fault strikes. The
first fault is kept for the engine (``last``; module level, because Ray restores callbacks from its own pickle
on `study resume`). It also prints the warnings trials report (a torn checkpoint skipped for the one before: ``trainables.training.resume``).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Optional

from ray.tune import Callback
from rich.markup import escape

from trainables.faults import EnvFault, environmental
from trainables.schema.trial import FAULT_KEY, TRIAL_NUMBER, WARNING_KEY

log = logging.getLogger(__name__)
HEALTH_EVERY_S = 2.0
_last: Optional[EnvFault] = None


def last() -> Optional[EnvFault]:
    """The fault that stopped the study in this process, if one did."""
    return _last


def _say(line: str) -> None:
    from study.console.display import console

    console().print(line, soft_wrap=True)


def reset() -> None:
    global _last
    _last = None


class FaultWatch(Callback):
    """Stops the study on a trial's fault report or environmental error; prints a trial's warning reports."""

    def on_trial_result(self, iteration, trials, trial, result, **info):
        warning = result.get(WARNING_KEY)
        if warning:
            _say(f"[yellow]warning:[/] trial-{(trial.config or {}).get(TRIAL_NUMBER, '?')}: {escape(str(warning))}")
        raw = result.get(FAULT_KEY)
        if raw:
            try:
                fault = EnvFault.from_dict(json.loads(raw))
            except (TypeError, ValueError):
                fault = EnvFault("", "", str(raw)[:300])
            self._stop(fault, trial)

    def on_step_end(self, iteration, trials, **info):
        """Every few seconds: the workspace's folders still there, writable, with room (``study.console.faults.health``)."""
        from study.console.faults import health

        now = time.monotonic()
        if now - self.__dict__.get("_checked", 0.0) < HEALTH_EVERY_S:
            return
        self._checked = now
        fault = health()
        if fault is not None:
            self._stop(fault, "the workspace check")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._check(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._check(trial)

    def _check(self, trial) -> None:
        try:
            error = trial.get_pickled_error() or trial.get_error()
        except Exception:  # noqa: BLE001 - an unreadable error is judged by nobody here
            return
        fault = environmental(error) if error is not None else None
        if fault is not None:
            self._stop(fault, trial)

    def _stop(self, fault: EnvFault, trial) -> None:
        global _last
        if _last is None:
            _last = fault
            log.error("stopping the study: trial %s met a fault of its surroundings: %s", trial, fault)
            from study.run.interrupt import request_stop

            request_stop()
