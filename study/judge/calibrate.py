"""Judge stopping rules against the truth on measured traces, and choose their constants from them.

The truth is a catastrophic-overfitting label computed from validation PGD accuracy: a classic CO
is a trial that was robust (PGD ≥ ``robust``) at some epoch and fell below ``floor`` within
``within`` epochs. A rule is replayed epoch by epoch on each trace exactly as the scheduler would
see it; recall, precision and the delay (stop epoch − collapse epoch) follow.
"""
from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from study.stopping.rules import StoppingPolicy
from trainables.schema import records as R


# The one definition of a classic catastrophic overfitting (issue 15): the masking-checked validation reading
# (``val/robust_acc`` = PGD-10 minus what APGD-CE + Square found on top, trainables.evaluation.validation) was ≥ ROBUST at
# some epoch and fell below FLOOR within WITHIN epochs. Read at epoch ends only (validation runs once per epoch).
LABEL, ROBUST, FLOOR, WITHIN = R.VAL_ROBUST_ACC, 0.2, 0.1, 2


def collapse_epoch(pgd: Sequence[float], robust: float = ROBUST, floor: float = FLOOR, within: int = WITHIN) -> Optional[int]:
    """1-based epoch at which a classic CO completes (PGD < floor within ``within`` epochs of being ≥ robust)."""
    for t, v in enumerate(pgd):
        if v < floor and any(pgd[s] >= robust for s in range(max(0, t - within), t)):
            return t + 1
    return None


def collapse_of(trace: Sequence[dict]) -> Optional[int]:
    """The collapse epoch of a trace (its epoch records' ``LABEL``; window reports are skipped), or None."""
    return collapse_epoch([float(r[LABEL]) for r in trace if not R.is_partial(r) and LABEL in r])


def first_stop(policy: StoppingPolicy, trace: Sequence[dict]) -> tuple[Optional[int], Optional[str]]:
    """Replay a trace through the policy; the epoch (1-based) and reason of the first stop."""
    for t in range(1, len(trace) + 1):
        d = policy.decide(trace[:t])
        if d.stop:
            return t, d.reason
    return None, None


@dataclass
class Verdict:
    n: int
    collapsed: int
    stopped: int
    true_stops: int  # stopped at or after... any stop of a collapsed trial
    recall: float
    precision: float
    mean_delay: Optional[float]  # stop epoch − collapse epoch over collapsed trials that were stopped
    early_stops: int  # stops of collapsed trials before their collapse epoch (negative delay)
    saved_epochs: int  # epochs not run because of stops


def judge(policy: StoppingPolicy, traces: Iterable[Sequence[dict]], robust: float = 0.2, floor: float = 0.1,
          within: int = 2, metric: str = R.VAL_PGD_ACC) -> Verdict:
    traces = list(traces)
    collapsed = stopped = true_stops = early = saved = 0
    delays = []
    for tr in traces:
        c = collapse_epoch([r[metric] for r in tr], robust, floor, within)
        s, _ = first_stop(policy, tr)
        collapsed += c is not None
        if s is not None:
            stopped += 1
            saved += len(tr) - s
            if c is not None:
                true_stops += 1
                delays.append(s - c)
                early += s < c
    return Verdict(
        n=len(traces), collapsed=collapsed, stopped=stopped, true_stops=true_stops,
        recall=true_stops / collapsed if collapsed else float("nan"),
        precision=true_stops / stopped if stopped else float("nan"),
        mean_delay=statistics.mean(delays) if delays else None, early_stops=early, saved_epochs=saved,
    )


def grid(**axes: Sequence) -> list[dict]:
    """All combinations of the given constants, e.g. grid(threshold=[3, 6], window=[2, 3])."""
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]
