"""When the masking check flags an epoch (``val/masked``): one rule per entry of ``FLAG_RULES``, each a function of
the validation PGD accuracy, the number of PGD-robust images the check attacked, how many it broke, and the
check's ``threshold`` (issue 26).

- ``gap``: the estimated gap (``masking_gap``: PGD accuracy × the broken share) is above ``threshold``.
- ``gap_bound``: the gap's one-sided 95 % lower bound (PGD accuracy × the Wilson lower bound of the broken share)
  is above ``threshold``, so a gap that a few images make at a small ``n`` is not flagged.

Which is the default, and why, is measured by bench/masking_panel.py (bench/README.md, docs/method.md).
"""
from __future__ import annotations

import math
from typing import Callable

Z95 = 1.645  # one-sided 95 %


def masking_gap(pgd_acc: float, checked: int, broken: int) -> float:
    """``val/masking_gap``: the validation PGD accuracy times the share of the ``checked`` PGD-robust images
    (among the first ``n``) that the check ``broke``.

    A ratio estimate: when the check covers the whole validation split it is exactly the share of validation
    images only the check broke; on a subset it scales the subset's survival rate to the whole split, so
    ``val/robust_acc = val/pgd_acc − gap`` stays in [0, ``val/pgd_acc``]. (Subtracting ``broken / n`` instead
    read below 0 when the first ``n`` images held more of the few PGD-robust ones than the split does.)
    """
    return pgd_acc * broken / checked if checked else 0.0


def wilson_lower(k: int, n: int, z: float = Z95) -> float:
    """One-sided Wilson lower bound of a share ``k / n`` (0 when ``n`` = 0)."""
    if not n:
        return 0.0
    p, d = k / n, 1 + z * z / n
    return max(0.0, (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / d)


FLAG_RULES: dict[str, Callable[[float, int, int, float], bool]] = {
    "gap": lambda pgd, checked, broken, threshold: masking_gap(pgd, checked, broken) > threshold,
    "gap_bound": lambda pgd, checked, broken, threshold: pgd * wilson_lower(broken, checked) > threshold,
}
