"""SGLD with momentum on the joint energy E(x, y) = −f(x)[y] (method.md §8.2-3).

v ← ζ·v − (η/2)·∇ₓL;  x ← clip(x + v + sqrt(2η)·σ_ξ·ξ, 0, 1), with L = E(x, y) (plain) or
(E(x, y) − Ē_y)² (energy guidance toward the mean joint energy of real class-y images). With the
adaptive stop, a sample whose (E(x, y) − Ē_y)² < τ is frozen for good: never updated again, and
dropped from the forward passes, so finished samples cost nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import torch
from torch import Tensor, nn

from trainables.energy.energies import joint_energy
from trainables.schema.generation import SamplerConfig


@dataclass
class SampleResult:
    """Final samples, updates applied to each, final E(x, y), and which samples the stop froze."""

    x: Tensor
    steps: Tensor
    energy: Tensor
    frozen: Tensor


class _EvalMode:
    """Put the model in eval mode for the block and give back the mode it had."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        self.model.train(self.was_training)


@torch.no_grad()
def class_mean_energies(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_classes: int) -> Tensor:
    """Ē_y: the mean joint energy E(x, y) of real images of each class (float32, K; NaN for an absent class)."""
    total = torch.zeros(num_classes, dtype=torch.float64)
    count = torch.zeros(num_classes, dtype=torch.float64)
    with _EvalMode(model):
        for x, y in batches:
            e = joint_energy(model(x), y).double().cpu()
            y = y.cpu()
            total.index_add_(0, y, e)
            count.index_add_(0, y, torch.ones_like(e))
    return (total / count).float()


def sgld(model: nn.Module, x0: Tensor, y: Tensor, cfg: SamplerConfig, target: Optional[Tensor] = None,
         gen: Optional[torch.Generator] = None) -> SampleResult:
    """Run ``cfg.steps`` SGLD steps from ``x0`` (on the model's device) for labels ``y``.

    ``target``: Ē_y per sample (needed for guidance and for the adaptive stop). ``gen``: a CPU
    generator for the Langevin noise, so a seed gives the same samples on any device.
    """
    if (cfg.guidance or cfg.adaptive_stop) and target is None:
        raise ValueError("energy guidance and the adaptive stop need target energies Ē_y (target=None)")
    device = x0.device
    x = x0.detach().clone()
    v = torch.zeros_like(x)
    n = len(x)
    steps = torch.zeros(n, dtype=torch.long, device=device)
    active = torch.ones(n, dtype=torch.bool, device=device)
    tgt = target.to(device=device, dtype=torch.float32) if target is not None else None
    noise_scale = (2 * cfg.step_size) ** 0.5 * cfg.noise_std
    with _EvalMode(model), torch.enable_grad():
        for _ in range(cfg.steps):
            idx = active.nonzero().flatten()
            if len(idx) == 0:
                break
            xa = x[idx].requires_grad_(True)
            e = joint_energy(model(xa), y[idx])
            keep = torch.ones(len(idx), dtype=torch.bool, device=device)
            if cfg.adaptive_stop:
                keep = (e.detach() - tgt[idx]) ** 2 >= cfg.tau
                active[idx[~keep]] = False
                if not keep.any():
                    break
            loss = (e - tgt[idx]) ** 2 if cfg.guidance else e
            (grad,) = torch.autograd.grad(loss[keep].sum(), xa)
            idx, grad = idx[keep], grad[keep]
            v[idx] = cfg.momentum * v[idx] - (cfg.step_size / 2) * grad
            step = v[idx]
            if noise_scale > 0:
                xi = torch.randn(step.shape, generator=gen).to(device) if gen is not None else torch.randn_like(step)
                step = step + noise_scale * xi
            x[idx] = (x[idx] + step).clamp_(0, 1)
            steps[idx] += 1
        with torch.no_grad():
            energy = torch.cat([joint_energy(model(x[i:i + 512]), y[i:i + 512]) for i in range(0, n, 512)]) \
                if n else x.new_zeros(0)
    frozen = torch.zeros_like(active)
    if cfg.adaptive_stop:  # frozen on the way, or on target after the last step
        frozen = ~active | ((energy - tgt) ** 2 < cfg.tau)
    return SampleResult(x.detach(), steps, energy, frozen)
