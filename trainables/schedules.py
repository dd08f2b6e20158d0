"""Learning-rate schedules as pure functions of training progress t ∈ [0, epochs] (in epochs).

piecewise: robust_overfitting (×γ at each milestone fraction, e.g. epochs 100 and 150 of 200);
cyclic: fast_adversarial's triangle 0 → lr at ``warmup_fraction`` → 0; cosine; constant.
Being pure functions of (epoch, step), they need no state of their own in a checkpoint.
"""
from __future__ import annotations

import math
from typing import Callable

from trainables.config import ScheduleConfig

Schedule = Callable[[float], float]


def piecewise(cfg: ScheduleConfig, lr: float, epochs: int) -> Schedule:
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
