"""What "best", the selected epoch and MASKED mean, in the words every place that shows them uses.

``study status`` prints these under its table, ``study export`` in each config's header, ``study train`` after
its run and the report above its tables, so a reader meets the explanation where the mark is (issue 32). The
rule itself: docs/method.md, "Which checkpoint" (``trainables.training.trainer.Trainer._update_best``).

>>> best_line(4.0, 6)
'selected epoch 4 of 6: the epoch with the highest val/robust_acc (validation PGD accuracy minus what the masking check broke on top; never the test set); best/val_robust_acc is its reading'
"""
from __future__ import annotations

from typing import Optional

from trainables.schema import records as R

BEST = (f"{R.BEST_VAL_ROBUST} is the reading of each trial's selected epoch: the epoch with the highest "
        f"{R.VAL_ROBUST_ACC} (validation PGD accuracy minus what the masking check, APGD-CE, APGD-T and Square, broke on top; "
        f"never the test set), whose weights are its best checkpoint; best/epoch is that epoch")
MASKED = (f"MASKED: the masking check flagged the selected epoch ({R.BEST_MASKED} = 1): APGD and Square broke, among "
          f"the images PGD left robust, more validation accuracy than eval.masking.threshold "
          f"(default 5 points, by its 95 % lower bound; val/masking_gap), so PGD overstated it. The reading shown already "
          f"subtracts that gap and stays the best estimate, but gradients may be masked: trust the AutoAttack "
          f"reading of the study's answer (`study evaluate`) over PGD for it (docs/method.md, 'Which checkpoint')")


def best_line(best_epoch: Optional[float], epochs: Optional[float] = None, seeds: int = 1) -> str:
    """One line on a trial's selected epoch (the mean over ``seeds`` seeds when there are several)."""
    if best_epoch is None:
        return f"{R.BEST_VAL_ROBUST}: {BEST}"
    of = ""
    if isinstance(epochs, (int, float)):  # a trial stopped mid-epoch (eval.report_every) ran a fraction of one
        of = f" of {epochs:g}" if float(epochs).is_integer() else f" (it ran {epochs:g} epochs)"
    which = f"selected epoch {best_epoch:g}{of}" + (f" (mean over {seeds} seeds)" if seeds > 1 else "")
    return (f"{which}: the epoch with the highest {R.VAL_ROBUST_ACC} (validation PGD accuracy minus what the masking "
            f"check broke on top; never the test set); {R.BEST_VAL_ROBUST} is its reading")


def masked_line() -> str:
    return MASKED


def train_best(best_epoch: Optional[float], epochs: int, reading: Optional[float], masked: bool) -> str:
    """What ``study train`` prints after its last epoch about the checkpoint it kept as best."""
    if best_epoch is None:
        return "best checkpoint: the last epoch (the run has no validation split)"
    got = f" = {100 * reading:.1f}%" if reading is not None else ""
    text = (f"best checkpoint: epoch {best_epoch:g} of {epochs}, the highest {R.VAL_ROBUST_ACC}{got} (the "
            f"'val robust' column: PGD minus what the masking check broke; not 'val pgd')")
    return text + (" MASKED: the check flagged that epoch; see docs/method.md, 'Which checkpoint'" if masked else "")
