"""The one record type that flows from the training loop to Ray, MLflow and reports.

Metric names are defined here once; everything else imports them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EPOCH = "epoch"
LR = "lr"
LOSS_METHOD, LOSS_DER, LOSS_TOTAL = "loss/method", "loss/der", "loss/total"
TRAIN_CLEAN_ACC, TRAIN_ADV_ACC = "train/clean_acc", "train/adv_acc"
VAL_CLEAN_ACC, VAL_PGD_ACC = "val/clean_acc", "val/pgd_acc"
# the masking check (trainables.config.MaskingCheck): robust_acc = pgd_acc − masking_gap, masked ∈ {0, 1}
VAL_ROBUST_ACC, VAL_MASKING_GAP, VAL_MASKED = "val/robust_acc", "val/masking_gap", "val/masked"
VAL_CHANCE_ACC = "val/chance_acc"  # the majority-class share of the validation labels: a constant classifier's accuracy
PROBE_PGD_ACC, PROBE_CLEAN_ACC = "probe/pgd_acc", "probe/clean_acc"
TIME_EPOCH, TIME_TRAIN, TIME_IPS = "time/epoch_s", "time/train_s", "time/images_per_s"
BEST_EPOCH, BEST_VAL_PGD, BEST_VAL_ROBUST = "best/epoch", "best/val_pgd_acc", "best/val_robust_acc"
NONFINITE = "nonfinite"
STOP_REASON, STOP_EPOCH = "stop_reason", "stop_epoch"
# Why a trial was stopped early (the value under STOP_REASON): one set for every layer.
STOP_NAN, STOP_DELTA_ENERGY, STOP_PROBE, STOP_DEGENERATE, STOP_ASHA = (
    "nan", "delta_energy", "probe_collapse", "degenerate", "asha")
STOP_REASONS = (STOP_NAN, STOP_DELTA_ENERGY, STOP_PROBE, STOP_DEGENERATE, STOP_ASHA)

TRACE_STATS = (
    "delta_mean", "delta_std", "delta_p5", "delta_p50", "delta_p95",
    "joint_delta_mean", "joint_delta_std", "joint_delta_p5", "joint_delta_p50", "joint_delta_p95",
    "frac_adv_lower", "nat_mean", "adv_mean",
)


# Where ΔE is traced: "train" (training batches, train-mode logits, the training attack), "val" (the
# validation split, eval mode, the validation PGD) and "probe" (a fixed batch of training images, eval
# mode, the probe PGD: the same images every epoch and run, so its scale is comparable across runs).
TRACE_SPLITS = ("train", "val", "probe")


def energy_key(split: str, stat: str) -> str:
    """e.g. energy_key("train", "delta_mean") == "energy/train/delta_mean"."""
    return f"energy/{split}/{stat}"


TRAIN_DELTA_MEAN = energy_key("train", "delta_mean")
VAL_DELTA_MEAN = energy_key("val", "delta_mean")
PROBE_DELTA_MEAN = energy_key("probe", "delta_mean")


GEN_FID, GEN_KID, GEN_ISC = "gen/fid", "gen/kid_mean", "gen/isc_mean"  # generation (trainables.generation)
GEN_PREFIX = "gen/"


def test_key(which: str, metric: str) -> str:
    """Final test metrics, e.g. test_key("best", "pgd20x1_acc") == "test/best/pgd20x1_acc"."""
    return f"test/{which}/{metric}"


@dataclass
class EpochRecord:
    """Everything measured in one epoch, as flat ``name → number`` metrics."""

    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, Any]:
        return {EPOCH: self.epoch, **self.metrics}

    @classmethod
    def from_flat(cls, d: dict[str, Any]) -> "EpochRecord":
        d = dict(d)
        return cls(int(d.pop(EPOCH)), d)
