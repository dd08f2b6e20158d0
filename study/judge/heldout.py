"""A stopping rule judged on trials it never saw: constants chosen on a calibration half, figures on the other.

A corpus of recorded traces (``bench/co_corpus.py``: epoch records and, with ``eval.report_every``, window
reports) is split by seed. For each candidate rule family, ``choose`` replays every constant of its grid on
the calibration half only and keeps the best by ``calibration_key`` (highest recall whose false-alarm rate is
at most ``max_false_alarm``; then precision, lead, steps saved). ``judge`` then scores that one choice on the
held-out half. Truth is ``calibrate.collapse_of`` (the one definition of a classic collapse), read at the
end of the collapse epoch; every figure is in optimizer steps (and epochs = steps / steps per epoch).

- caught: a collapsed trace stopped no later than one epoch after its collapse (the goal's "within 1 epoch");
- recall = caught / collapsed; precision = caught / stopped; false-alarm rate = healthy stopped / healthy;
- lead = collapse step − stop step over caught traces (positive: the stop came first);
- steps saved = steps not trained because of a stop / steps of the whole half.
A composite "A and B" stops when both have fired (at the later of the two stops), "A or B" at the earlier.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Optional, Sequence

from study.judge.calibrate import collapse_of
from study.stopping.rules import CONTINUE, Decision, History, NonFinite, StoppingPolicy, progress, series
from trainables.schema import records as R

Trace = dict  # {"seed": int, "records": [flat record dicts], ...} as bench/co_corpus.py writes them
Stopper = Callable[[Sequence[dict]], Optional[int]]  # records -> the step of the first stop, or None


class AttackGap:
    """Stop when the training attack's accuracy exceeds the probe's PGD accuracy by more than ``gap`` (after
    ``grace_epochs``): under catastrophic overfitting the single-step attack stops finding errors that PGD
    still finds. A candidate signal of the held-out judgement, not (yet) a rule of the platform."""

    def __init__(self, gap: float, grace_epochs: int = 1) -> None:
        self.gap, self.grace_epochs = gap, grace_epochs

    def decide(self, history: History) -> Decision:
        adv, pgd = series(history, R.TRAIN_ADV_ACC), series(history, R.PROBE_PGD_ACC)
        if progress(history) <= self.grace_epochs or not adv or not pgd:
            return CONTINUE
        if adv[-1] - pgd[-1] > self.gap:
            return Decision(True, "attack_gap", f"train adv acc {adv[-1]:.3f} vs probe PGD {pgd[-1]:.3f}")
        return CONTINUE

    def __repr__(self) -> str:
        return f"AttackGap(gap={self.gap}, grace_epochs={self.grace_epochs})"


def steps_per_epoch(records: Sequence[dict]) -> int:
    first = next(r for r in records if not R.is_partial(r))
    return int(first[R.STEP] // first[R.EPOCH])


def total_steps(records: Sequence[dict]) -> int:
    return int(max(r[R.STEP] for r in records))


def stop_step(rule, records: Sequence[dict]) -> Optional[int]:
    """Replay ``records`` (window reports and epoch records, in order) through NaN + ``rule``."""
    policy = StoppingPolicy([NonFinite(), rule])
    for i in range(1, len(records) + 1):
        if policy.decide(records[:i]).stop:
            return int(records[i - 1][R.STEP])
    return None


def collapse_step(records: Sequence[dict]) -> Optional[int]:
    """The step at which validation read the collapse (end of the collapse epoch), or None."""
    c = collapse_of(records)
    return None if c is None else c * steps_per_epoch(records)


def both(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return None if a is None or b is None else max(a, b)


def either(a: Optional[int], b: Optional[int]) -> Optional[int]:
    return a if b is None else b if a is None else min(a, b)


@dataclass
class Verdict:
    traces: int
    collapsed: int
    healthy: int
    stopped: int
    caught: int
    false_alarms: int
    recall: float
    precision: float
    false_alarm_rate: float
    lead_steps: Optional[float]  # mean over caught traces
    lead_epochs: Optional[float]
    early_by_more_than_an_epoch: int  # caught traces stopped > 1 epoch before their collapse
    steps_saved: float  # fraction of the half's steps
    caught_at: list = field(default_factory=list)  # per trace: whether it is a caught collapse

    def row(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "caught_at"}


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def judge(stops: Sequence[Optional[int]], traces: Sequence[Trace]) -> Verdict:
    """Score precomputed stop steps (one per trace) against each trace's collapse."""
    collapsed = caught = false_alarms = early = saved = total = 0
    leads, spes, caught_at = [], [], []
    for s, tr in zip(stops, traces):
        recs = tr["records"]
        spe, n, c = steps_per_epoch(recs), total_steps(recs), collapse_step(recs)
        total += n
        caught_at.append(c is not None and s is not None and s <= c + spe)
        if s is not None:
            saved += n - s
        if c is None:
            false_alarms += s is not None
            continue
        collapsed += 1
        if caught_at[-1]:
            caught += 1
            leads.append(c - s)
            spes.append(spe)
            early += c - s > spe
    stopped = sum(s is not None for s in stops)
    healthy = len(traces) - collapsed
    lead = statistics.mean(leads) if leads else None
    return Verdict(len(traces), collapsed, healthy, stopped, caught, false_alarms, _ratio(caught, collapsed),
                   _ratio(caught, stopped), _ratio(false_alarms, healthy), lead,
                   statistics.mean(x / e for x, e in zip(leads, spes)) if leads else None, early,
                   saved / total if total else 0.0, caught_at)


def calibration_key(v: Verdict, max_false_alarm: float) -> tuple:
    """Higher is better: within the false-alarm budget first, then recall, precision, lead, steps saved."""
    nan0 = lambda x: -1.0 if x != x else x  # noqa: E731
    fa = v.false_alarm_rate if v.false_alarm_rate == v.false_alarm_rate else 0.0
    return (fa <= max_false_alarm, nan0(v.recall), nan0(v.precision), v.lead_steps or -1e9, v.steps_saved)


def replay(make: Callable[..., object], constants: Iterable[dict], traces: Sequence[Trace]) -> dict[str, tuple]:
    """{repr(params): (params, stop steps over ``traces``)} for every constant of a family's grid."""
    out = {}
    for params in constants:
        rule = make(**params)
        out[repr(params)] = (params, [stop_step(rule, t["records"]) for t in traces])
    return out


def choose(replayed: dict[str, tuple], calibration: Sequence[Trace], max_false_alarm: float) -> tuple:
    """(params, verdict) of the replayed constants that score best on the calibration traces (only them)."""
    best = None
    for params, stops in replayed.values():
        v = judge(stops, calibration)
        if best is None or calibration_key(v, max_false_alarm) > calibration_key(best[1], max_false_alarm):
            best = (params, v)
    if best is None:
        raise ValueError("an empty grid of constants")
    return best


def combine(a: dict[str, tuple], b: dict[str, tuple], how: Callable) -> dict[str, tuple]:
    """Every pair of two replayed families, stops combined per trace by ``both`` or ``either``."""
    return {f"{ka} {how.__name__} {kb}": ({"a": pa, "b": pb}, [how(x, y) for x, y in zip(sa, sb)])
            for ka, (pa, sa) in a.items() for kb, (pb, sb) in b.items()}


def split_by_seed(traces: Sequence[Trace], calibration_seeds: Iterable[int]) -> tuple[list[Trace], list[Trace]]:
    """(calibration, held-out): a trace belongs to the calibration half iff its seed is listed."""
    seeds = set(calibration_seeds)
    cal = [t for t in traces if t["seed"] in seeds]
    return cal, [t for t in traces if t["seed"] not in seeds]


def evaluate(make: Callable[..., object], constants: Iterable[dict], traces: Sequence[Trace],
             calibration_seeds: Iterable[int], max_false_alarm: float = 0.10) -> dict:
    """One family end to end: split by seed, choose on the calibration half, replay only the chosen constants
    on the held-out half. {"constants", "calibration": Verdict, "held_out": Verdict, "held_out_stops"}."""
    cal, held = split_by_seed(traces, calibration_seeds)
    params, cal_verdict = choose(replay(make, constants, cal), cal, max_false_alarm)
    stops = replay(make, [params], held)[repr(params)][1]
    return {"constants": params, "calibration": cal_verdict, "held_out": judge(stops, held), "held_out_stops": stops}
