"""What a stopped trial is worth to the study's answer, and what Optuna is told about a configuration.

A rule that detects a failure (the CO probe's collapse, ΔE divergence, a non-finite loss) stops a trial whose
result is already made: its best checkpoint, selected on validation before the failure, is what
fast_adversarial's probe exists to keep. Such a trial is told to Optuna COMPLETE with its best-so-far
objective, exported and registered like any other, and named "stopped (…), result kept" wherever it is shown.
A stop that is a resource decision (ASHA: the trial was not finished) or whose result is not one (a degenerate,
constant classifier) leaves the configuration PRUNED. Pure Python: the searcher (``study.search.search``) and the
search replay (``bench/search_replay.py``) decide through the same function.

>>> seed = SeedOutcome(result={"best/val_robust_acc": 0.31, "stop_reason": "probe_collapse"},
...                    best={"best/val_robust_acc": 0.31})
>>> configuration_outcome([seed], ["best/val_robust_acc"]).state
'COMPLETE'
>>> configuration_outcome([SeedOutcome(result={"stop_reason": "asha", "best/val_robust_acc": 0.2})],
...                       ["best/val_robust_acc"]).state
'PRUNED'
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Optional, Sequence

from trainables.schema import records as R

COMPLETE, PRUNED, FAIL = "COMPLETE", "PRUNED", "FAIL"


def keeps_result(reason: Optional[str]) -> bool:
    """Whether a trial stopped for ``reason`` keeps its result (no reason: it was not stopped)."""
    return reason is None or reason in R.RESULT_KEPT


def _finite(x) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def better(a: Optional[float], b: Optional[float], mode: str) -> Optional[float]:
    """The better of two readings under ``mode`` (None and non-finite readings never win)."""
    a, b = _finite(a), _finite(b)
    if a is None or b is None:
        return a if b is None else b
    return max(a, b) if mode == "max" else min(a, b)


@dataclass
class SeedOutcome:
    """One seed (one Ray trial) of a configuration at its end: its last result, whether it errored, and the
    best reading of each search metric over its epoch records (what a kept result is worth)."""

    result: dict = field(default_factory=dict)
    error: bool = False
    best: dict = field(default_factory=dict)

    @property
    def reason(self) -> Optional[str]:
        return self.result.get(R.STOP_REASON)

    def value(self, metric: str) -> Optional[float]:
        """A stopped seed that kept its result is worth its best-so-far reading; any other its last one.
        (For the default objective, ``best/val_robust_acc``, the two are the same: the selected epoch's.)"""
        if self.reason is not None and keeps_result(self.reason):
            return _finite(self.best.get(metric, self.result.get(metric)))
        return _finite(self.result.get(metric))


@dataclass
class ConfigurationOutcome:
    state: str  # COMPLETE, PRUNED or FAIL
    values: list[Optional[float]]  # the mean over the seeds of each metric (None where no seed has a value)
    reasons: list[Optional[str]]  # per seed

    @property
    def result_kept(self) -> bool:
        """COMPLETE although at least one seed was stopped (by a rule that keeps results)."""
        return self.state == COMPLETE and any(self.reasons)


def configuration_outcome(seeds: Sequence[SeedOutcome], metrics: Sequence[str]) -> ConfigurationOutcome:
    """The configuration's state and values: the mean over its seeds of each seed's value (``SeedOutcome.value``),
    errored seeds left out. FAIL when every seed errored; PRUNED when a seed was stopped by a rule that does not
    keep results, or a metric has no finite value; else COMPLETE."""
    reasons = [s.reason for s in seeds]
    values = []
    for m in metrics:
        xs = [v for s in seeds if not s.error for v in [s.value(m)] if v is not None]
        values.append(sum(xs) / len(xs) if xs else None)
    if all(s.error for s in seeds):
        state = FAIL
    elif not all(keeps_result(r) for r in reasons) or any(v is None for v in values):
        state = PRUNED
    else:
        state = COMPLETE
    return ConfigurationOutcome(state, values, reasons)


def stop_phrase(reason: Optional[str], state: Optional[str] = None, step=None, epoch=None, short: bool = False) -> str:
    """How a stop is named on the console, in the report and in MLflow: "stopped (probe collapse at step 128),
    result kept" / "stopped (ASHA at epoch 3), pruned"; '' when not stopped. ``reason`` may join several seeds'
    reasons with commas; ``state``: the Optuna state of the configuration when known (a seed that kept its
    result in a configuration another seed got pruned is still pruned); ``short``: for a column headed "stop"
    ("probe collapse at step 128, result kept")."""
    reasons = [r for r in (reason or "").split(",") if r]
    if not reasons:
        return ""
    at = f" at step {int(step)}" if step is not None else (f" at epoch {float(epoch):g}" if epoch is not None else "")
    kept = all(keeps_result(r) for r in reasons) if state is None else state == COMPLETE
    names = ", ".join(STOP_NAMES.get(r, r.replace("_", " ")) for r in reasons)
    verdict = "result kept" if kept else "pruned"
    return f"{names}{at}, {verdict}" if short else f"stopped ({names}{at}), {verdict}"


STOP_NAMES = MappingProxyType({R.STOP_ASHA: "ASHA", R.STOP_NAN: "non-finite loss", R.STOP_DELTA_ENERGY: "ΔE divergence"})
