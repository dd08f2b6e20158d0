"""Learning-rate schedules as pure functions of training progress t ∈ [0, epochs] (in epochs).

piecewise: ×γ at each milestone fraction (e.g. epochs 100 and 150 of 200, robust_overfitting's recipe), from the
first step of the milestone epoch, or with ``milestone_drop: reached`` from the step that reaches it, as
robust_overfitting's own ``lr_schedule`` does;
cyclic: fast_adversarial's triangle 0 → lr at ``warmup_fraction`` → 0; cosine; constant.
Being pure functions of (epoch, step), they need no state of their own in a checkpoint.
"""
from __future__ import annotations

import math
from typing import Callable

from trainables.schema.config import ScheduleConfig

Schedule = Callable[[float], float]


def piecewise(cfg: ScheduleConfig, lr: float, epochs: int) -> Schedule:
    """``milestone_drop``: "epoch_start" drops at the first step of the milestone epoch (a per-epoch schedule:
    TRADES's ``adjust_learning_rate``, torch's MultiStepLR stepped per epoch); "reached" is robust_overfitting's
    ``lr_schedule(epoch + (i + 1) / steps)`` exactly (lower once t / epochs ≥ m), one step earlier: the step that
    completes the epoch before the milestone already runs at the lower rate (issue 27's step-level test)."""
    if cfg.milestone_drop == "reached":
        return lambda t: lr * cfg.gamma ** sum(t / epochs >= m for m in cfg.milestones)
    bounds = [round(m * epochs) for m in cfg.milestones]  # whole epochs, as in the recipes
    return lambda t: lr * cfg.gamma ** sum(t > b for b in bounds)


def cyclic(cfg: ScheduleConfig, lr: float, epochs: int) -> Schedule:
    peak = cfg.warmup_fraction * epochs

    def f(t: float) -> float:
        return lr * (t / peak if t <= peak else max(0.0, (epochs - t) / (epochs - peak)))

    return f


def cosine(cfg: ScheduleConfig, lr: float, epochs: int) -> Schedule:
    return lambda t: lr * 0.5 * (1 + math.cos(math.pi * min(t, epochs) / epochs))


def constant(cfg: ScheduleConfig, lr: float, epochs: int) -> Schedule:
    return lambda t: lr


SCHEDULES: dict[str, Callable[[ScheduleConfig, float, int], Schedule]] = {
    "piecewise": piecewise,
    "cyclic": cyclic,
    "cosine": cosine,
    "constant": constant,
}


def build_schedule(cfg: ScheduleConfig, lr: float, epochs: int) -> Schedule:
    return SCHEDULES[cfg.name](cfg, lr, epochs)
