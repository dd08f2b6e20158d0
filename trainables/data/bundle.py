"""``build_data``: one config in, a ``DataBundle`` out (dataset facts, the split, and batch iterators)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

import torch

from trainables.data import DATASETS, DatasetArrays, DatasetFacts, Location
from trainables.data.loaders import Batch, DeviceLoader, TorchLoader, to_float
from trainables.data.split import split_indices

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig

LOADERS = {"torch": TorchLoader, "device": DeviceLoader}


def load_arrays(cfg: "DataConfig") -> DatasetArrays:
    """The whole dataset of ``cfg`` as uint8 tensors (no split applied)."""
    return DATASETS.get(cfg.name).load(cfg)


def locate(cfg: "DataConfig") -> Location:
    """Where the dataset of ``cfg`` is looked for and whether it is there; loads nothing."""
    return DATASETS.get(cfg.name).locate(cfg)


def check_available(cfg: "DataConfig") -> None:
    """Fail fast, before a study starts, when the dataset is missing and cannot be downloaded."""
    DATASETS.get(cfg.name).check(cfg)


def dataset_facts(cfg: "DataConfig") -> DatasetFacts:
    """Sizes, classes and image shape of the dataset of ``cfg``, without decoding it."""
    return DATASETS.get(cfg.name).facts(cfg)


@dataclass
class DataBundle:
    """A split dataset ready for training: facts for the model, and deterministic batch iterators.

    ``mean``/``std`` are per-channel statistics of the whole training set (the published constants for
    the torchvision sets, computed over train/ for imagefolder). ``train_images``/``train_labels`` are
    the CPU uint8/int64 tensors of the training split in its (shuffled, subset) order; the val/test
    tensors sit on the device when ``cfg.loader`` is "device". Batches come from that loader.
    """

    name: str
    class_names: tuple[str, ...]
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    batch_size: int
    augment: bool
    device: torch.device
    channels_last: bool
    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_loader: TorchLoader | DeviceLoader
    loader_kind: str = "torch"
    _eval_loaders: dict = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_train(self) -> int:
        return len(self.train_labels)

    @property
    def num_val(self) -> int:
        return len(self.val_labels)

    @property
    def num_test(self) -> int:
        return len(self.test_labels)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_loader)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        """Epoch ``epoch`` of training: shuffled and (if on) augmented as a function of (seed, epoch)."""
        return self.train_loader.batches(epoch)

    def val_batches(self, batch_size: Optional[int] = None) -> Iterator[Batch]:
        """The validation split in a fixed order, no augmentation."""
        return self._eval_loader("val", batch_size or self.batch_size, None).batches(0)

    def test_batches(self, batch_size: Optional[int] = None, limit: Optional[int] = None) -> Iterator[Batch]:
        """The test set (or its first ``limit`` images) in a fixed order, no augmentation."""
        return self._eval_loader("test", batch_size or self.batch_size, limit).batches(0)

    def probe_batch(self, n: int) -> Batch:
        """The first ``n`` images of the training split (all of it if smaller), unaugmented: the same
        batch in every epoch and every run with the same split."""
        if n < 1:
            raise ValueError(f"probe batch size must be >= 1, got {n}")
        x = to_float(self.train_images[:n], self.device, self.channels_last)
        return x, self.train_labels[:n].to(self.device)

    def _eval_loader(self, split: str, batch_size: int, limit: Optional[int]) -> TorchLoader | DeviceLoader:
        key = (split, batch_size, limit)
        if key not in self._eval_loaders:
            x, y = (self.val_images, self.val_labels) if split == "val" else (self.test_images, self.test_labels)
            if limit is not None:
                x, y = x[:limit], y[:limit]
            # No augmentation, nothing for DataLoader workers to do: num_workers stays 0.
            self._eval_loaders[key] = LOADERS[self.loader_kind](
                x, y, batch_size, self.device, channels_last=self.channels_last
            )
        return self._eval_loaders[key]


@dataclass(frozen=True)
class SplitData:
    """A dataset after the split and the subsets: uint8 images and int64 labels per split, plus its facts.

    What ``build_data`` makes from the files before any loader exists; it depends on the data config
    only (never on the run's seed, batch size or device), so trials can share it (``data.cache``).
    The tensors are never written to: loaders index and copy them.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


def split_data(cfg: "DataConfig") -> SplitData:
    """Load ``cfg``'s dataset, split it (``split_seed``) and cut the subsets; keep only the split copies."""
    arrays = load_arrays(cfg)
    idx = split_indices(
        len(arrays.train_y), len(arrays.test_y), cfg.val_size, cfg.split_seed, cfg.train_subset, cfg.test_subset
    )
    return SplitData(
        arrays.train_x[idx.train], arrays.train_y[idx.train], arrays.train_x[idx.val], arrays.train_y[idx.val],
        arrays.test_x[idx.test], arrays.test_y[idx.test], tuple(arrays.class_names), tuple(arrays.mean),
        tuple(arrays.std),
    )


def build_data(
    cfg: "DataConfig",
    batch_size: int,
    device: torch.device | str = "cpu",
    seed: int = 0,
    channels_last: bool = False,
    split: Optional[SplitData] = None,
) -> DataBundle:
    """Split ``cfg``'s dataset (or take the given ``split`` of it) and set up the loaders (``seed``)."""
    s = split if split is not None else split_data(cfg)
    _, channels, height, width = s.train_x.shape
    augment = cfg.augment if cfg.augment is not None else (height == width == 32 and channels == 3)
    device = torch.device(device)
    loader_cls = LOADERS[cfg.loader]
    extra = {"num_workers": cfg.num_workers} if cfg.loader == "torch" else {}
    train_loader = loader_cls(
        s.train_x, s.train_y, batch_size, device,
        shuffle=True, augment=augment, seed=seed, channels_last=channels_last, **extra,
    )
    val_x, val_y, test_x, test_y = s.val_x, s.val_y, s.test_x, s.test_y
    if cfg.loader == "device":  # eval splits live on the device once, not once per call
        val_x, val_y, test_x, test_y = (t.to(device) for t in (val_x, val_y, test_x, test_y))
    return DataBundle(
        name=cfg.name,
        class_names=s.class_names,
        in_channels=channels,
        image_size=height,
        mean=s.mean,
        std=s.std,
        batch_size=batch_size,
        augment=augment,
        device=device,
        channels_last=channels_last,
        train_images=s.train_x,
        train_labels=s.train_y,
        val_images=val_x,
        val_labels=val_y,
        test_images=test_x,
        test_labels=test_y,
        train_loader=train_loader,
        loader_kind=cfg.loader,
    )
