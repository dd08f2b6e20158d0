"""The step size of every evaluation PGD: the references' own, never too short to cross the ball.

- Test PGD (``eval.test_pgd``) takes the step the references evaluate that dataset with: fast_adversarial
  evaluates MNIST with PGD-50 at step 0.01 (``MNIST/evaluate_mnist.py``), robust_overfitting and
  fast_adversarial evaluate CIFAR-10 at 2/255 = ε/4.
- Validation, probe and masking-check PGD take ε/4 (robust_overfitting's per-epoch PGD-10). On the masked
  MNIST run of issue 14, PGD-10 at ε/4 and PGD-50 at step 0.01 read the same every epoch (bench/masking.py,
  bench/README.md), so the cheaper one is the default; restarts are what the masking check adds.
- Either way the step is at least ``COVER``·ε/steps, so that a short attack can still travel across the
  ball (a 3-step PGD at 0.01 reaches only 0.03 from its start).
``eval.pgd_alpha`` set in a config overrides all of this.

>>> step(epsilon=76.5, steps=50, dataset="mnist", test=True)  # 0.01 in 1/255 units
2.55
>>> step(epsilon=8, steps=10, dataset="cifar10", test=True)   # robust_overfitting's 2/255
2.0
>>> round(step(epsilon=51, steps=3, dataset="mnist", test=False), 2)  # floor: 1.5 · 51 / 3
25.5
"""
from __future__ import annotations

from typing import Optional

COVER = 1.5  # total travel ≥ 1.5 ε (fast_adversarial's MNIST evaluation: 50 × 0.01 = 1.67 ε at ε = 0.3)
TEST_STEP = {"mnist": 2.55, "fashion_mnist": 2.55}  # 1/255 units; datasets not listed: ε/4


def step(epsilon: float, steps: int, dataset: str, test: bool, given: Optional[float] = None) -> float:
    """The PGD step (1/255 units) of an evaluation attack of ``steps`` steps at radius ``epsilon``."""
    if given is not None:
        return given
    base = TEST_STEP.get(dataset, epsilon / 4) if test else epsilon / 4
    return max(base, COVER * epsilon / steps)
