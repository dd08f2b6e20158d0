"""Two interchangeable batch loaders: ``TorchLoader`` (CPU DataLoader) and ``DeviceLoader`` (data on the device).

Both yield ``(x, y)``: x float32 in [0, 1], NCHW (or channels_last), on the target device; y int64.
An epoch's order and augmentation are drawn up front from a ``torch.Generator`` seeded by
(seed, epoch) alone, never the global RNG, so a run resumed at epoch k sees the same batches as an
uninterrupted one, and both loaders give identical batches for the same (seed, epoch).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
import torch.nn.functional as F

Batch = tuple[torch.Tensor, torch.Tensor]
PAD = 4


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed that depends only on (seed, epoch), the same in every process."""
    digest = hashlib.blake2b(f"trainables.data/{seed}/{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


@dataclass(frozen=True)
class EpochPlan:
    """One epoch, decided up front: sample order and, when augmenting, per-position crop offsets and flips."""

    order: torch.Tensor  # (N,) int64 indices into the dataset
    dy: Optional[torch.Tensor] = None  # (N,) int64 in [0, 2*pad]: top of the crop in the padded image
    dx: Optional[torch.Tensor] = None  # (N,) int64 in [0, 2*pad]: left of the crop
    flip: Optional[torch.Tensor] = None  # (N,) bool: mirror horizontally

    def to(self, device: torch.device) -> "EpochPlan":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return EpochPlan(move(self.order), move(self.dy), move(self.dx), move(self.flip))


def plan_epoch(n: int, seed: int, epoch: int, shuffle: bool, augment: bool, pad: int = PAD) -> EpochPlan:
    """The order and augmentation of epoch ``epoch``, drawn on the CPU from a dedicated generator."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    if not augment:
        return EpochPlan(order)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flip = torch.randint(0, 2, (n,), generator=g).bool()
    return EpochPlan(order, dy, dx, flip)


def augment_batch(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int = PAD
) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to H x W at (dy, dx), mirror where ``flip``: two gathers, no loop.

    Output pixel (i, j) of image b is ``padded[b, :, dy[b] + i, dx[b] + (W-1-j if flip[b] else j)]``.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = (dy[:, None] + ar_h).view(b, 1, h, 1).expand(b, c, h, w + 2 * pad)
    cols = (dx[:, None] + torch.where(flip[:, None], (w - 1) - ar_w, ar_w)).view(b, 1, 1, w).expand(b, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def to_float(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 → float32 in [0, 1] on ``device`` (converted after the transfer: 4x fewer bytes moved)."""
    x = x.to(device, non_blocking=True).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class _Loader:
    """Shared state and the epoch plan of both loaders."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
        *,
        shuffle: bool = False,
        augment: bool = False,
        seed: int = 0,
        channels_last: bool = False,
        pad: int = PAD,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.channels_last = channels_last
        self.pad = pad
        self.num_samples = len(images)

    def __len__(self) -> int:
        """Batches per epoch; the last partial batch is kept."""
        return math.ceil(self.num_samples / self.batch_size)

    def plan(self, epoch: int) -> EpochPlan:
        return plan_epoch(self.num_samples, self.seed, epoch, self.shuffle, self.augment, self.pad)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Batch]:
        return self.batches(0)


class _PlannedBatches(torch.utils.data.Dataset):
    """Item i is batch i of a planned epoch, still uint8 (augmented on the CPU, in a worker if any)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, plan: EpochPlan, batch_size: int, pad: int):
        self.images, self.labels, self.plan, self.batch_size, self.pad = images, labels, plan, batch_size, pad

    def __len__(self) -> int:
        return math.ceil(len(self.plan.order) / self.batch_size)

    def __getitem__(self, i: int) -> Batch:
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = self.plan.order[sl]
        x = self.images.index_select(0, idx)
        if self.plan.dy is not None:
            x = augment_batch(x, self.plan.dy[sl], self.plan.dx[sl], self.plan.flip[sl], self.pad)
        return x, self.labels.index_select(0, idx)


class TorchLoader(_Loader):
    """Batches assembled and augmented on the CPU by a ``torch.utils.data.DataLoader`` (``num_workers``)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 device: torch.device | str = "cpu", *, num_workers: int = 0, **kwargs) -> None:
        super().__init__(images, labels, batch_size, device, **kwargs)
        self.images = images.cpu().contiguous()
        self.labels = labels.cpu().to(torch.int64)
        self.num_workers = num_workers

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        dataset = _PlannedBatches(self.images, self.labels, self.plan(epoch), self.batch_size, self.pad)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
            # DataLoader draws its worker base seed from this, not from the global RNG (which the
            # training loop owns: drawing from it here would shift e.g. the attacks' random starts).
            generator=torch.Generator().manual_seed(epoch_seed(self.seed, epoch)),
        )
        for x, y in loader:
            yield to_float(x, self.device, self.channels_last), y.to(self.device, non_blocking=True)


class DeviceLoader(_Loader):
    """The uint8 dataset lives on the device; batches are gathered and augmented there, vectorised."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 device: torch.device | str = "cpu", **kwargs) -> None:
        super().__init__(images, labels, batch_size, device, **kwargs)
        self.images = images.to(self.device).contiguous()
        self.labels = labels.to(self.device, torch.int64)

    def batches(self, epoch: int = 0) -> Iterator[Batch]:
        plan = self.plan(epoch).to(self.device)
        for start in range(0, self.num_samples, self.batch_size):
            sl = slice(start, start + self.batch_size)
            idx = plan.order[sl]
            x = self.images.index_select(0, idx)
            if plan.dy is not None:
                x = augment_batch(x, plan.dy[sl], plan.dx[sl], plan.flip[sl], self.pad)
            yield to_float(x, self.device, self.channels_last), self.labels.index_select(0, idx)
