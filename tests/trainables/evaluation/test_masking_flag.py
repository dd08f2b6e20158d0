"""The masking check's flag rules (issue 26), on constructed readings: the binomial rule does not flag a gap that a
few images make at n = 64, and does flag a real one; the config offers exactly the registered rules."""
from __future__ import annotations

import typing

import pytest

from trainables.evaluation.masking_flag import FLAG_RULES, masking_gap, wilson_lower
from trainables.schema.config import MaskingCheck


def test_the_wilson_bound_is_below_the_share_and_tightens_with_n():
    assert wilson_lower(0, 10) == 0.0 and wilson_lower(5, 0) == 0.0
    assert 0 < wilson_lower(6, 64) < 6 / 64 and wilson_lower(60, 640) > wilson_lower(6, 64)
    # by hand, 10 of 100 at z = 1.645: centre (0.1 + 0.01353) / 1.02706 = 0.11054, half-width
    # 1.645 * sqrt(0.0009 + 0.0000676) / 1.02706 = 0.04982, lower bound 0.0607
    assert wilson_lower(10, 100) == pytest.approx(0.0607, abs=5e-4)


def test_a_gap_that_is_noise_at_64_images_is_not_flagged_and_a_real_one_is():
    gap, bound = FLAG_RULES["gap"], FLAG_RULES["gap_bound"]
    # 4 of 64 robust images broken: a 6.2-point gap, each image moving it 1.6 points
    assert masking_gap(1.0, 64, 4) == pytest.approx(0.0625)
    assert gap(1.0, 64, 4, 0.05) and not bound(1.0, 64, 4, 0.05)
    # 12 of 64: an 18.8-point gap, flagged by both
    assert gap(1.0, 64, 12, 0.05) and bound(1.0, 64, 12, 0.05)
    # the same 6.2-point share on 1,024 images is no longer noise
    assert bound(1.0, 1024, 64, 0.05)
    # nothing checked or nothing broken: never flagged
    for rule in (gap, bound):
        assert not rule(0.5, 0, 0, 0.05) and not rule(0.5, 40, 0, 0.05)


def test_the_config_offers_exactly_the_registered_rules():
    assert set(typing.get_args(MaskingCheck.model_fields["flag"].annotation)) == set(FLAG_RULES)
    with pytest.raises(ValueError):
        MaskingCheck(flag="share")
