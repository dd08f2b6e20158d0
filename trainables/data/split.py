"""The seeded train/validation split and the optional train/test subsets.

The permutation comes from NumPy's legacy ``RandomState``, whose stream NumPy keeps stable across
versions, so a given ``split_seed`` names the same validation set on every machine and release.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from trainables.errors import InputError


@dataclass(frozen=True)
class SplitIndices:
    """Indices into the full train set (``train``, ``val``) and the test set (``test``), int64."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


def split_indices(
    num_train: int,
    num_test: int,
    val_size: int,
    split_seed: int = 0,
    train_subset: Optional[int] = None,
    test_subset: Optional[int] = None,
) -> SplitIndices:
    """Shuffle the train set with ``split_seed``; the first ``val_size`` become validation (kept sorted),
    the rest, in shuffled order, the training split, cut to ``train_subset``. Test keeps its order."""
    check_sizes(num_train, num_test, val_size, train_subset, test_subset)
    perm = torch.from_numpy(np.random.RandomState(split_seed % 2**32).permutation(num_train).astype(np.int64))
    val, train = perm[:val_size].sort().values, perm[val_size:]
    if train_subset is not None:
        train = train[:train_subset]
    test = torch.arange(num_test, dtype=torch.int64)
    if test_subset is not None:
        test = test[:test_subset]
    return SplitIndices(train=train, val=val, test=test)


def check_sizes(num_train: int, num_test: int, val_size: int, train_subset: Optional[int] = None,
                test_subset: Optional[int] = None, dataset: str = "the dataset") -> None:
    """The split and subset sizes must fit the dataset (checked before a study starts, and again here)."""
    if val_size >= num_train:
        raise InputError(
            f"data.val_size={val_size} leaves no training images: {dataset} has {num_train:,} training images "
            f"and the validation split is taken from them; set data.val_size below {num_train:,}"
            + (f" (e.g. {min(1000, num_train // 10):,})" if num_train >= 10 else "")
        )
    left = num_train - val_size
    if train_subset is not None and train_subset > left:
        raise InputError(
            f"data.train_subset={train_subset} is larger than the {left:,} training images of {dataset} left after "
            f"holding out data.val_size={val_size}; set data.train_subset to at most {left:,} (or leave it unset)"
        )
    if test_subset is not None and test_subset > num_test:
        raise InputError(
            f"data.test_subset={test_subset} is larger than the test set of {dataset} ({num_test:,} images); "
            f"set data.test_subset to at most {num_test:,} (or leave it unset)"
        )
