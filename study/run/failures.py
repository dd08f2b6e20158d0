"""Failed trials, grouped by cause: the end-of-study summary instead of a wall of Ray tracebacks.

Ray Tune keeps each failed trial's exception on its ``Result``; the cause is the original exception
(Ray wraps it in a ``RayTaskError``), said in one line. Trials are named by their Optuna number, the
name the status table uses. The tracebacks themselves are in the study's log file and in each trial's
``error.txt``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

MAX_CAUSE = 300


def cause_of(error: BaseException) -> str:
    """``Type: first line of the message`` of the exception a trial raised."""
    inner = getattr(error, "cause", None) or error
    lines = [ln.strip() for ln in str(inner).strip().splitlines() if ln.strip()]
    text = f"{type(inner).__name__}: {lines[0]}" if lines else type(inner).__name__
    return text if len(text) <= MAX_CAUSE else text[:MAX_CAUSE - 3] + "..."


@dataclass
class Failures:
    """How many Ray trials ran, and the failed ones by cause (cause -> trial names, in order)."""

    trials: int = 0
    causes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(len(v) for v in self.causes.values())

    @property
    def all_failed(self) -> bool:
        return self.trials > 0 and self.failed == self.trials

    def lines(self) -> list[str]:
        """One line per distinct cause, naming its trials."""
        out = []
        for cause, names in self.causes.items():
            label = "trial" if len(names) == 1 else "trials"
            out.append(f"{label} {', '.join(names)}: {cause}")
        return out


def _name(config: Optional[dict[str, Any]]) -> str:
    from trainables.schema.trial import SEED_INDEX, TRIAL_NUMBER

    config = config or {}
    number, seed = config.get(TRIAL_NUMBER), int(config.get(SEED_INDEX, 0) or 0)
    name = "?" if number is None else str(number)
    return f"{name} (seed {seed})" if seed else name


def _config(result) -> dict[str, Any]:
    """A result's trial config; a trial that failed before its first report has it only in params.json."""
    from trainables.schema.trial import TRIAL_NUMBER

    if result.config and TRIAL_NUMBER in result.config:
        return result.config
    try:
        with result.filesystem.open_input_stream(f"{result.path}/params.json") as f:
            return json.loads(f.read())
    except Exception:  # noqa: BLE001  (no name is better than no summary)
        return {}


def from_results(results) -> Failures:
    """Group the failed results of a Ray Tune ``ResultGrid`` (any iterable of results) by cause."""
    out = Failures()
    for result in results:
        out.trials += 1
        if result.error is not None:
            out.causes.setdefault(cause_of(result.error), []).append(_name(_config(result)))
    return out
