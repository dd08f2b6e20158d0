"""Where and how a run computes: device, bf16 autocast, channels_last, determinism, threads."""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import ContextManager

import torch

from trainables.schema.config import RunConfig


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    bf16: bool
    channels_last: bool

    @classmethod
    def from_config(cls, cfg: RunConfig) -> "Runtime":
        """Resolve "auto" choices; CUDA falls back to CPU when absent (e.g. logical Ray GPUs)."""
        want_cuda = cfg.device in ("auto", "cuda")
        device = torch.device("cuda" if want_cuda and torch.cuda.is_available() else "cpu")
        on_cuda = device.type == "cuda"
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and on_cuda)
        channels_last = on_cuda if cfg.channels_last is None else cfg.channels_last
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif on_cuda:
            torch.backends.cudnn.benchmark = True
        return cls(device, bf16, channels_last)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> ContextManager:
        """bf16 autocast context (a no-op in fp32)."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (e.g. the run seed and the epoch)."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)  # also seeds every CUDA device
