"""Sub-epoch reports (``eval.report_every: k``): the training statistics of the last k steps and a probe reading.

Catastrophic overfitting completes within a few hundred steps, so an epoch-level record can be late by most
of an epoch. With ``eval.report_every`` the trainer also reports after every k-th step of an epoch: the
window's ΔE statistics of the training attack (as ``trainables.energy.trace`` computes them per epoch), its
accuracy under the training attack and its loss, and the CO probe (PGD on the fixed training batch, eval
mode) at that point, all under ``window/...`` names (``trainables.schema.records.window_key``). Windows restart at
every epoch, so an epoch checkpoint never holds half a window; the epoch's last window (at most k steps)
travels with the epoch record. The probe draws its random start from its own seed inside a forked RNG, so
reporting never changes what is trained.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from trainables.schema import records as R
from trainables.training.runtime import derive_seed
from trainables.energy.trace import EnergyTrace


class Window:
    """Accumulates one window's per-step sums (method loss, DER loss, adversarial correct, clean correct,
    clean count: the trainer's) and ΔE trace on the device; ``summary()`` reads them once."""

    def __init__(self, every: int, seed: int, epoch: int) -> None:
        self.every, self.seed, self.epoch = every, seed, epoch
        self._reset(0)

    def _reset(self, start: int) -> None:
        self.start, self.steps, self.n, self.sums = start, 0, 0, None
        self.trace = EnergyTrace(seed=derive_seed(self.seed, "window", self.epoch, start) % (1 << 31))

    def due(self, done: int, steps_per_epoch: int) -> bool:
        """A report after step ``done`` of the epoch (the last step's window goes with the epoch record)."""
        return done % self.every == 0 and done < steps_per_epoch

    def add(self, sums: Tensor, n: int, logits_nat, logits_adv, y, traced: bool) -> None:
        self.sums = sums if self.sums is None else self.sums + sums
        self.steps, self.n = self.steps + 1, self.n + n
        if traced:
            self.trace.update(logits_nat, logits_adv, y)

    def summary(self, done: int) -> dict[str, float]:
        """The window's metrics (``window/...``), then a fresh window starting after step ``done``."""
        a, n = self.sums.tolist(), self.n
        out = {R.window_key(R.LOSS_TOTAL): (a[0] + a[1]) / n, R.window_key(R.TRAIN_ADV_ACC): a[2] / n,
               R.WINDOW_STEPS: float(self.steps)}
        if a[4]:
            out[R.window_key(R.TRAIN_CLEAN_ACC)] = a[3] / a[4]
        out.update({R.window_key(R.energy_key("train", k)): v for k, v in self.trace.summary().items()})
        if not math.isfinite(out[R.window_key(R.LOSS_TOTAL)]):
            out[R.NONFINITE] = 1.0
        self._reset(done)
        return out


def probe_reading(validator, model, seed: int, device: torch.device) -> dict[str, float]:
    """The CO probe now, as ``window/...`` metrics, without touching the training RNG stream."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return {R.window_key(k): v for k, v in validator.probe(model).items()}
