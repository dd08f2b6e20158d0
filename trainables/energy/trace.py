"""Streaming per-epoch statistics of ΔE, accumulated on the device in bounded memory.

Mean and std come from running float64 sums; percentiles from a uniform random sample of at
most ``capacity`` values kept by bottom-k sampling (each value gets a random key, the smallest
``capacity`` keys survive): exact while fewer values than ``capacity`` were seen. Nothing is
copied to the host until ``summary()``, so tracing adds no per-step synchronisation.
"""
from __future__ import annotations

import torch
from torch import Tensor

from trainables.energy.energies import delta_energy, energy, joint_delta_energy

PERCENTILES = (5, 50, 95)


class StreamStats:
    """Count, mean, std and percentiles of a stream of 1-d tensors."""

    def __init__(self, capacity: int = 4096, seed: int = 0) -> None:
        self.capacity = capacity
        self.seed = seed
        self._gen: torch.Generator | None = None
        self._sum = self._sumsq = self._n = None
        self._values = self._keys = None

    def update(self, v: Tensor) -> None:
        v = v.detach().flatten().float()
        if self._sum is None:
            dev = v.device
            self._gen = torch.Generator(device=dev).manual_seed(self.seed)
            self._sum = torch.zeros((), dtype=torch.float64, device=dev)
            self._sumsq = torch.zeros((), dtype=torch.float64, device=dev)
            self._n = torch.zeros((), dtype=torch.int64, device=dev)
            self._values = v.new_empty(0)
            self._keys = v.new_empty(0)
        v64 = v.double()
        self._sum += v64.sum()
        self._sumsq += (v64 * v64).sum()
        self._n += v.numel()
        keys = torch.rand(v.numel(), generator=self._gen, device=v.device)
        values = torch.cat([self._values, v])
        keys = torch.cat([self._keys, keys])
        if keys.numel() > self.capacity:
            keys, idx = torch.topk(keys, self.capacity, largest=False, sorted=False)
            values = values[idx]
        self._values, self._keys = values, keys

    def summary(self) -> dict[str, float]:
        if self._sum is None:
            return {}
        n = int(self._n.item())
        mean = self._sum / n
        var = (self._sumsq / n - mean * mean).clamp_min(0) * (n / max(n - 1, 1))
        q = torch.tensor([p / 100 for p in PERCENTILES], device=self._values.device)
        pct = torch.quantile(self._values.float(), q).tolist()
        out = {"mean": float(mean), "std": float(var.sqrt())}
        out.update({f"p{p}": v for p, v in zip(PERCENTILES, pct)})
        return out


class EnergyTrace:
    """ΔE, joint ΔE and the fraction of samples with E(x*) < E(x) over one epoch."""

    def __init__(self, capacity: int = 4096, seed: int = 0) -> None:
        self.delta = StreamStats(capacity, seed)
        self.joint_delta = StreamStats(capacity, seed + 1)
        self._lower = None
        self._nat = self._adv = None
        self._n = 0

    def update(self, logits_nat: Tensor, logits_adv: Tensor, y: Tensor) -> None:
        logits_nat, logits_adv = logits_nat.detach(), logits_adv.detach()
        e_nat, e_adv = energy(logits_nat), energy(logits_adv)
        d = delta_energy(logits_nat, logits_adv)
        self.delta.update(d)
        self.joint_delta.update(joint_delta_energy(logits_nat, logits_adv, y))
        lower, nat, adv = (d > 0).sum(), e_nat.double().sum(), e_adv.double().sum()
        if self._lower is None:
            self._lower, self._nat, self._adv = lower, nat, adv
        else:
            self._lower, self._nat, self._adv = self._lower + lower, self._nat + nat, self._adv + adv
        self._n += d.numel()

    def summary(self) -> dict[str, float]:
        """Flat statistics: delta_mean … delta_p95, joint_delta_*, frac_adv_lower, nat_mean, adv_mean."""
        if not self._n:
            return {}
        out = {f"delta_{k}": v for k, v in self.delta.summary().items()}
        out.update({f"joint_delta_{k}": v for k, v in self.joint_delta.summary().items()})
        out["frac_adv_lower"] = float(self._lower) / self._n
        out["nat_mean"] = float(self._nat) / self._n
        out["adv_mean"] = float(self._adv) / self._n
        return out
