"""The train/validation split: seeded, disjoint, stable across processes and versions; subsets."""
from __future__ import annotations

import pytest
import torch

from trainables.data.split import split_indices
from trainables.errors import InputError


def test_sizes_disjoint_and_complete():
    s = split_indices(60000, 10000, val_size=1000, split_seed=0)
    assert len(s.val) == 1000 and len(s.train) == 59000 and len(s.test) == 10000
    assert s.train.dtype == s.val.dtype == s.test.dtype == torch.int64
    both = torch.cat([s.train, s.val])
    assert both.unique().numel() == 60000 and both.min() == 0 and both.max() == 59999
    assert torch.equal(s.val, s.val.sort().values)  # validation kept in a fixed, sorted order
    assert torch.equal(s.test, torch.arange(10000))


def test_deterministic_and_seed_dependent():
    a, b = split_indices(50000, 10000, 1000, 7), split_indices(50000, 10000, 1000, 7)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    c = split_indices(50000, 10000, 1000, 8)
    assert not torch.equal(a.val, c.val)


def test_same_split_in_every_process_and_version():
    """Golden values: NumPy's legacy RandomState stream is frozen, so these never change."""
    s = split_indices(60000, 10000, 1000, 0)
    assert s.val[:8].tolist() == [72, 157, 190, 204, 216, 271, 292, 302]
    assert s.train[:8].tolist() == [30188, 34774, 31837, 12756, 4800, 48747, 25216, 50238]
    s = split_indices(50000, 10000, 1000, 1)
    assert s.val[:4].tolist() == [85, 92, 108, 121]


def test_subsets_are_prefixes_and_keep_validation():
    full = split_indices(50000, 10000, 1000, 3)
    sub = split_indices(50000, 10000, 1000, 3, train_subset=500, test_subset=200)
    assert torch.equal(sub.train, full.train[:500])
    assert torch.equal(sub.val, full.val)  # subsetting never moves images into or out of validation
    assert torch.equal(sub.test, torch.arange(200))


def test_zero_validation():
    s = split_indices(100, 10, 0, 0)
    assert len(s.val) == 0 and len(s.train) == 100


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"val_size": 100}, "val_size=100"),
        ({"val_size": 10, "train_subset": 91}, "train_subset=91"),
        ({"val_size": 10, "test_subset": 11}, "test_subset=11"),
    ],
)
def test_impossible_sizes_are_input_errors(kwargs, words):
    with pytest.raises(InputError, match=words):
        split_indices(100, 10, **{"split_seed": 0, **kwargs})
