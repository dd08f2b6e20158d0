"""Stopping rules of method.md §6 as plain Python over a list of per-epoch metric dicts.

No Ray here: the rules are unit-tested on synthetic and measured traces, and the scheduler in
``study.stopping.scheduler`` only adapts them. Each rule returns a ``Decision`` whose reason is
recorded with the trial ("delta_energy", "probe_collapse", "nan").
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

from trainables import records as R

History = Sequence[dict]


@dataclass(frozen=True)
class Decision:
    stop: bool
    reason: Optional[str] = None
    detail: str = ""


CONTINUE = Decision(False)


class Rule(Protocol):
    def decide(self, history: History) -> Decision: ...


def _series(history: History, metric: str) -> list[float]:
    return [float(h[metric]) for h in history if metric in h and h[metric] is not None]


@dataclass
class NonFinite:
    """Stop at once when the loss (or a watched metric) is NaN/inf."""

    metrics: tuple[str, ...] = (R.LOSS_TOTAL,)

    def decide(self, history: History) -> Decision:
        last = history[-1]
        if last.get(R.NONFINITE):
            return Decision(True, "nan", "non-finite training loss")
        for m in self.metrics:
            v = last.get(m)
            if isinstance(v, (int, float)) and not math.isfinite(v):
                return Decision(True, "nan", f"{m} = {v}")
        return CONTINUE


@dataclass
class DeltaEnergyDivergence:
    """|x_t − median(x_{t−w..t−1})| > k · max(1.4826·MAD, min_scale, rel_scale·|median|), after a grace period.

    A change relative to the trial's own recent history, not a fixed magnitude: healthy robust
    training also lets |ΔE| grow slowly (method.md §2).
    """

    metric: str = R.energy_key("train", "delta_p5")  # defaults calibrated by bench/early_stopping.py
    grace_epochs: int = 1
    window: int = 3
    threshold: float = 4.0
    min_scale: float = 0.1
    rel_scale: float = 0.1

    def score(self, history: History) -> Optional[float]:
        """The divergence score |x_t − median| / scale of the last epoch (None while not computable)."""
        xs = _series(history, self.metric)
        if len(xs) < self.window + 1:
            return None
        past, now = xs[-self.window - 1:-1], xs[-1]
        med = statistics.median(past)
        mad = statistics.median(abs(v - med) for v in past)
        scale = max(1.4826 * mad, self.min_scale, self.rel_scale * abs(med))
        return abs(now - med) / scale

    def decide(self, history: History) -> Decision:
        if len(history) <= self.grace_epochs:
            return CONTINUE
        s = self.score(history)
        if s is not None and s > self.threshold:
            return Decision(True, "delta_energy", f"{self.metric} left its recent history by {s:.1f} scales")
        return CONTINUE


@dataclass
class ProbeCollapse:
    """fast_adversarial's CO probe: PGD accuracy on a fixed training batch falls by more than ``drop``."""

    metric: str = R.PROBE_PGD_ACC
    drop: float = 0.1
    reference: str = "best"  # or "previous"
    grace_epochs: int = 1

    def decide(self, history: History) -> Decision:
        xs = _series(history, self.metric)
        if len(history) <= self.grace_epochs or len(xs) < 2:
            return CONTINUE
        ref = max(xs[:-1]) if self.reference == "best" else xs[-2]
        if ref - xs[-1] > self.drop:
            return Decision(True, "probe_collapse", f"{self.metric} fell from {ref:.3f} to {xs[-1]:.3f}")
        return CONTINUE


@dataclass
class StoppingPolicy:
    """The first rule that says stop wins; NaN is always checked first."""

    rules: list

    def decide(self, history: History) -> Decision:
        if not history:
            return CONTINUE
        for rule in self.rules:
            d = rule.decide(history)
            if d.stop:
                return d
        return CONTINUE


def policy_from_spec(stopping) -> StoppingPolicy:
    """Build the policy from a ``StoppingSpec`` (study.spec)."""
    rules: list = [NonFinite()]
    de = stopping.delta_energy
    if de.enabled:
        rules.append(DeltaEnergyDivergence(de.metric, de.grace_epochs, de.window, de.threshold, de.min_scale,
                                           de.rel_scale))
    pr = stopping.probe
    if pr.enabled:
        rules.append(ProbeCollapse(pr.metric, pr.drop, pr.reference, pr.grace_epochs))
    return StoppingPolicy(rules)
