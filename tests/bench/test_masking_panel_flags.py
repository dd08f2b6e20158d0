"""bench/masking_panel.py's flag rules, judged from stored counts (issue 26): a rule added later applies to every
row without attacking again, and the binomial gap rule does not flag a gap that is noise at n = 64."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.masking_panel import FLAGS, flag, markdown, wilson_lower  # noqa: E402

GAP, BOUND = "gap > 0.05 (flag: gap)", "gap's 95 % bound > 0.05 (flag: gap_bound)"


def _row(name: str, masked: bool, pgd: float, checked: int, broken: int) -> dict:
    check = {"checked": checked, "broken": broken, "reading": pgd - pgd * broken / checked, "seconds": 1.0}
    return {"name": name, "test_n": 1000, "test_pgd50x10": 0.8, "test_autoattack": 0.6 if masked else 0.79,
            "masked": masked, "val_pgd10": pgd, "val_autoattack": pgd - 0.1 * masked, "checks": {"c": check}}


def test_the_wilson_bound_is_below_the_share_and_tightens_with_n():
    assert wilson_lower(0, 10) == 0.0 and wilson_lower(5, 0) == 0.0
    assert 0 < wilson_lower(6, 64) < 6 / 64 and wilson_lower(60, 640) > wilson_lower(6, 64)


def test_a_gap_that_is_noise_at_64_images_is_not_flagged_by_the_binomial_rule_and_a_real_one_is():
    noise = _row("noise", False, pgd=1.0, checked=64, broken=4)  # 6.2 points: 4 images, each moving it 1.6
    assert flag(noise, "c", GAP) and not flag(noise, "c", BOUND)
    real = _row("real", True, pgd=1.0, checked=64, broken=12)  # 18.8 points
    assert flag(real, "c", GAP) and flag(real, "c", BOUND)
    none = _row("none", False, pgd=0.12, checked=15, broken=0)
    assert not flag(none, "c", GAP) and not flag(none, "c", BOUND)
    text = markdown([real, noise, none])
    assert f"| c | {BOUND} | 1/1 | 0/2 |" in text and f"| c | {GAP} | 1/1 | 1/2 |" in text
    assert set(FLAGS) >= {GAP, BOUND}
