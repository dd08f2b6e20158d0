"""Datasets, splits and loaders: everything between files on disk and ``(x, y)`` batches on a device.

Each dataset is a registered *source* (``DATASETS``) that can ``locate`` its files and ``load`` them
into uint8 tensors; ``build_data`` splits those and wraps them in loaders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Protocol

import torch

from trainables.schema.registry import Registry

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig


@dataclass
class DatasetArrays:
    """A whole dataset in memory: uint8 (N, C, H, W) images and int64 labels, train (incl. val) and test."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: Optional[Path] = None


@dataclass(frozen=True)
class DatasetFacts:
    """What a dataset holds, known without decoding it: for the checks before any trial starts.

    ``image_shape`` is (height, width) of every image as the model will see it.
    """

    name: str
    num_train: int
    num_test: int
    num_classes: int
    in_channels: int
    image_shape: tuple[int, int]


@dataclass
class Location:
    """Where a dataset is looked for and whether it is there (for ``study data info`` and errors)."""

    name: str
    searched: list[Path]
    found: Optional[Path]
    state: str  # "ready", "archives" (extractable offline), "missing" or "unusable"
    detail: str
    notes: list[str] = field(default_factory=list)


class DatasetSource(Protocol):
    """What ``DATASETS`` holds: finds a dataset's files and loads them."""

    def locate(self, cfg: "DataConfig") -> Location: ...

    def load(self, cfg: "DataConfig") -> DatasetArrays: ...

    def check(self, cfg: "DataConfig") -> None: ...

    def facts(self, cfg: "DataConfig") -> DatasetFacts: ...


DATASETS: Registry[DatasetSource] = Registry("dataset")

from trainables.data import imagefolder, torchvision_sets  # noqa: E402,F401  (fill DATASETS)
from trainables.data.bundle import (  # noqa: E402
    DataBundle, SplitData, build_data, check_available, dataset_facts, load_arrays, locate, split_data,
)
from trainables.data.loaders import DeviceLoader, TorchLoader  # noqa: E402
from trainables.data.roots import cache_dir, resolve_root  # noqa: E402
from trainables.data.split import SplitIndices, split_indices  # noqa: E402
from trainables.data.unpack import unpack_zip  # noqa: E402

__all__ = [
    "DATASETS",
    "DataBundle",
    "DatasetArrays",
    "DatasetFacts",
    "DatasetSource",
    "DeviceLoader",
    "Location",
    "SplitData",
    "SplitIndices",
    "TorchLoader",
    "build_data",
    "check_available",
    "dataset_facts",
    "cache_dir",
    "load_arrays",
    "locate",
    "resolve_root",
    "split_data",
    "split_indices",
    "unpack_zip",
]
