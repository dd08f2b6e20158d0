"""Where a trial's time goes: named phases summed per trial, written as one JSON line when asked to.

Off unless ``$STUDY_TRIAL_TIMING`` names a folder (``bench/trial_overhead.py`` sets it); then every
trial appends one line to ``<folder>/<pid>.jsonl``: ``trial_id``, ``pid``, ``phases`` ({name: seconds}),
``entered``/``left`` in wall-clock time (``time.time()``, so the bench can line them up with what the
driver saw), ``trials_before`` (trials this process ran earlier: 0 for a fresh worker) and
``frozen_objects`` (objects the worker keeps out of the garbage collector's sight, see
``trainables.tune.worker``). The cost when off is one ``perf_counter`` pair per phase.
"""
from __future__ import annotations

import gc
import json
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

ENV = "STUDY_TRIAL_TIMING"
_trials_in_process = 0


class PhaseClock:
    """Accumulates seconds per phase name for one trial."""

    def __init__(self, trial_id: Optional[str]) -> None:
        global _trials_in_process
        self.trial_id = trial_id
        self.entered = time.time()
        self.trials_before = _trials_in_process
        _trials_in_process += 1
        self.phases: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] += time.perf_counter() - t0

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] += seconds

    def write(self) -> None:
        """Append this trial's line to ``$STUDY_TRIAL_TIMING/<pid>.jsonl`` (nothing when unset)."""
        folder = os.environ.get(ENV)
        if not folder:
            return
        line = {"trial_id": self.trial_id, "pid": os.getpid(), "trials_before": self.trials_before,
                "entered": self.entered, "left": time.time(), "phases": dict(self.phases),
                "frozen_objects": gc.get_freeze_count()}
        path = Path(folder) / f"{os.getpid()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")
