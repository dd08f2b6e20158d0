"""The one record type that flows from the training loop to Ray, MLflow and reports.

Metric names are defined here once; everything else imports them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

EPOCH = "epoch"  # epochs trained: an integer on an epoch record, fractional on a window report (2.25)
STEP = "step"  # optimizer steps since the run's start, in every record
# A sub-epoch report (``eval.report_every``): its metrics are only the ``window/...`` statistics of the
# steps since the previous report (no validation, no checkpoint); the epoch record also carries the
# epoch's last window, so the ``window/...`` series has one point every k steps and at every epoch end.
PARTIAL = "partial"
WINDOW_PREFIX = "window/"
LR = "lr"
LOSS_METHOD, LOSS_DER, LOSS_TOTAL = "loss/method", "loss/der", "loss/total"
TRAIN_CLEAN_ACC, TRAIN_ADV_ACC = "train/clean_acc", "train/adv_acc"
VAL_CLEAN_ACC, VAL_PGD_ACC = "val/clean_acc", "val/pgd_acc"
# the masking check (trainables.schema.config.MaskingCheck): robust_acc = pgd_acc − masking_gap, masked ∈ {0, 1}
VAL_ROBUST_ACC, VAL_MASKING_GAP, VAL_MASKED = "val/robust_acc", "val/masking_gap", "val/masked"
VAL_CHANCE_ACC = "val/chance_acc"  # the majority-class share of the validation labels: a constant classifier's accuracy
PROBE_PGD_ACC, PROBE_CLEAN_ACC = "probe/pgd_acc", "probe/clean_acc"
TIME_EPOCH, TIME_TRAIN, TIME_IPS = "time/epoch_s", "time/train_s", "time/images_per_s"
BEST_EPOCH, BEST_VAL_PGD, BEST_VAL_ROBUST = "best/epoch", "best/val_pgd_acc", "best/val_robust_acc"
BEST_MASKED = "best/masked"  # 1 when the masking check flagged the selected epoch: the trial's result is marked, not vetoed
NONFINITE = "nonfinite"
STOP_REASON, STOP_EPOCH, STOP_STEP = "stop_reason", "stop_epoch", "stop_step"
# Why a trial was stopped early (the value under STOP_REASON): one set for every layer.
STOP_NAN, STOP_DELTA_ENERGY, STOP_PROBE, STOP_DEGENERATE, STOP_ASHA = (
    "nan", "delta_energy", "probe_collapse", "degenerate", "asha")
STOP_REASONS = (STOP_NAN, STOP_DELTA_ENERGY, STOP_PROBE, STOP_DEGENERATE, STOP_ASHA)
# The stops that detect a failure after the trial's result was made (its best checkpoint, selected before the
# failure): the trial keeps that result (study.stopping.outcome). ASHA's stop is a resource decision and a
# degenerate trial is a constant classifier: neither is a result.
RESULT_KEPT = frozenset({STOP_NAN, STOP_DELTA_ENERGY, STOP_PROBE})

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


def window_key(name: str) -> str:
    """A window statistic's name, e.g. window_key("energy/train/delta_p5") == "window/energy/train/delta_p5":
    a series of its own (in MLflow at the global step), never mixed with the epoch-level metric."""
    return WINDOW_PREFIX + name


WINDOW_STEPS = window_key("steps")  # optimizer steps the window's statistics cover
WINDOW_EPOCH = window_key("epoch")  # epochs trained at the window's end (fractional): the report's x axis


def is_partial(result: dict) -> bool:
    """Whether a result is a sub-epoch (window) report rather than an epoch record."""
    return bool(result.get(PARTIAL))


GEN_FID, GEN_KID, GEN_ISC = "gen/fid", "gen/kid_mean", "gen/isc_mean"  # generation (trainables.generation)
GEN_PREFIX = "gen/"


TEST_PREFIX = "test/"  # the final reading: never a selection criterion (study export refuses to rank by it)


def test_key(which: str, metric: str) -> str:
    """Final test metrics, e.g. test_key("best", "pgd20x1_acc") == "test/best/pgd20x1_acc"."""
    return f"{TEST_PREFIX}{which}/{metric}"


@dataclass
class EpochRecord:
    """Everything measured in one epoch (or, ``partial``, in one sub-epoch window), as flat ``name → number``
    metrics, with the global optimizer ``step`` it was taken at."""

    epoch: float  # an int on an epoch record
    metrics: dict[str, float] = field(default_factory=dict)
    step: Optional[int] = None
    partial: bool = False

    def flat(self) -> dict[str, Any]:
        out: dict[str, Any] = {EPOCH: self.epoch}
        if self.step is not None:
            out[STEP] = self.step
        if self.partial:
            out[PARTIAL] = 1
        return {**out, **self.metrics}

    @classmethod
    def from_flat(cls, d: dict[str, Any]) -> "EpochRecord":
        d = dict(d)
        partial = bool(d.pop(PARTIAL, 0))
        epoch = float(d.pop(EPOCH))
        step = d.pop(STEP, None)
        return cls(epoch if partial else int(epoch), d, None if step is None else int(step), partial)
