"""Where SGLD starts: uniform noise, a per-class diagonal Gaussian, class-wise PCA, local PCA.

Each initialisation is registered in ``INITS`` under its config name; ``build_init`` fits nothing
up front: per-class statistics (and local-PCA fits per anchor) are computed on first use and
cached, so asking for class 3 twice fits class 3 once. All samples are float32 in [0, 1], on CPU.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import Tensor

from trainables.schema.generation import InitConfig
from trainables.schema.registry import Registry


class Initializer(Protocol):
    """Draws starting points x₀ for the labels ``y`` (float32, N×C×H×W in [0, 1])."""

    def sample(self, y: Tensor, gen: torch.Generator) -> Tensor: ...


INITS: Registry[Callable[[InitConfig, Tensor, Tensor], Initializer]] = Registry("generation init")


def build_init(cfg: InitConfig, images: Tensor, labels: Tensor) -> Initializer:
    """The initialiser ``cfg.name`` over the real training images (uint8 N×C×H×W) and their labels."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"images must be uint8 N×C×H×W, got {images.dtype} {tuple(images.shape)}")
    return INITS.get(cfg.name)(cfg, images, labels)


@dataclass
class PCAFit:
    """mean (D,), principal directions (m, D) as rows, and the scale s_i of each (m,)."""

    mean: Tensor
    components: Tensor
    scales: Tensor

    def sample(self, n: int, sigma: float, gen: torch.Generator) -> Tensor:
        """clip(μ + Σ_i s_i·σ·z_i·u_i, 0, 1), z_i ~ N(0, 1): (n, D)."""
        z = torch.randn(n, len(self.scales), generator=gen)
        return (self.mean + (z * (self.scales * sigma)) @ self.components).clamp_(0, 1)


def fit_pca(x: Tensor, retained_variance: float, component_scale: str = "singular_value") -> PCAFit:
    """PCA of the rows of ``x`` (n, D) keeping the fewest components that explain ``retained_variance``."""
    mean = x.mean(0)
    centred = x - mean
    if len(x) < 2:
        return PCAFit(mean, x.new_zeros(0, x.shape[1]), x.new_zeros(0))
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    var = s.double() ** 2
    total = var.sum()
    if total <= 0:
        return PCAFit(mean, x.new_zeros(0, x.shape[1]), x.new_zeros(0))
    share = torch.cumsum(var, 0) / total
    m = int(torch.searchsorted(share, torch.tensor(retained_variance, dtype=share.dtype) - 1e-12).item()) + 1
    m = min(m, len(s))
    scales = s[:m] if component_scale == "singular_value" else s[:m] / (len(x) - 1) ** 0.5
    return PCAFit(mean, vh[:m].contiguous(), scales.contiguous())


class _ClassImages:
    """The training images of each class as float32 rows in [0, 1], built on first use and kept."""

    def __init__(self, images: Tensor, labels: Tensor, limit: int | None) -> None:
        self.images, self.labels, self.limit = images, labels, limit
        self.shape = tuple(images.shape[1:])
        self._rows: dict[int, Tensor] = {}

    def rows(self, c: int) -> Tensor:
        if c not in self._rows:
            idx = (self.labels == c).nonzero().flatten()
            if len(idx) == 0:
                raise ValueError(f"class {c} has no training images to initialise from")
            if self.limit is not None:
                idx = idx[: self.limit]
            self._rows[c] = self.images[idx].reshape(len(idx), -1).float().div_(255)
        return self._rows[c]


class _PerClass:
    """Base: draw each class's samples with ``_draw(c, n, gen)`` and put them back in label order."""

    def __init__(self, cfg: InitConfig, images: Tensor, labels: Tensor) -> None:
        self.cfg = cfg
        self.data = _ClassImages(images, labels, cfg.max_fit_images)

    def sample(self, y: Tensor, gen: torch.Generator) -> Tensor:
        y = y.cpu()
        out = torch.empty(len(y), *self.data.shape)
        for c in torch.unique(y).tolist():
            idx = (y == c).nonzero().flatten()
            out[idx] = self._draw(int(c), len(idx), gen).view(len(idx), *self.data.shape)
        return out

    def _draw(self, c: int, n: int, gen: torch.Generator) -> Tensor:
        raise NotImplementedError


@INITS.register("uniform")
class UniformInit:
    """x₀ ~ U(0, 1) per pixel: the classic SGLD start, and the baseline the data-driven inits must beat."""

    def __init__(self, cfg: InitConfig, images: Tensor, labels: Tensor) -> None:
        self.shape = tuple(images.shape[1:])

    def sample(self, y: Tensor, gen: torch.Generator) -> Tensor:
        return torch.rand(len(y), *self.shape, generator=gen)


@INITS.register("class_gaussian")
class ClassGaussianInit(_PerClass):
    """x₀ = clip(μ_y + std_y ⊙ z, 0, 1): a diagonal Gaussian fitted per class (JEM++-style start)."""

    def __init__(self, cfg: InitConfig, images: Tensor, labels: Tensor) -> None:
        super().__init__(cfg, images, labels)
        self._fits: dict[int, tuple[Tensor, Tensor]] = {}

    def _draw(self, c: int, n: int, gen: torch.Generator) -> Tensor:
        if c not in self._fits:
            rows = self.data.rows(c)
            self._fits[c] = (rows.mean(0), rows.std(0) if len(rows) > 1 else torch.zeros_like(rows[0]))
        mean, std = self._fits[c]
        return (mean + std * torch.randn(n, len(mean), generator=gen)).clamp_(0, 1)


@INITS.register("pca")
class PCAInit(_PerClass):
    """Class-wise PCA (method.md §8.1): x₀ = clip(μ_y + Σ_i s_i·σ·z_i·u_i, 0, 1), fitted once per class."""

    def __init__(self, cfg: InitConfig, images: Tensor, labels: Tensor) -> None:
        super().__init__(cfg, images, labels)
        self.fits: dict[int, PCAFit] = {}

    def fit(self, c: int) -> PCAFit:
        if c not in self.fits:
            self.fits[c] = fit_pca(self.data.rows(c), self.cfg.retained_variance, self.cfg.component_scale)
        return self.fits[c]

    def _draw(self, c: int, n: int, gen: torch.Generator) -> Tensor:
        return self.fit(c).sample(n, self.cfg.sigma, gen)


@INITS.register("local_pca")
class LocalPCAInit(_PerClass):
    """PCA on the k nearest same-class neighbours (pixel L2) of a random anchor image, one anchor per
    sample: keeps the detail and diversity that a whole-class mean blurs away. The last
    ``MAX_CACHED`` anchor fits are kept (one per sample would not fit in memory for 10k samples)."""

    MAX_CACHED = 256

    def __init__(self, cfg: InitConfig, images: Tensor, labels: Tensor) -> None:
        super().__init__(cfg, images, labels)
        self.fits: OrderedDict[tuple[int, int], PCAFit] = OrderedDict()
        self._sqnorms: dict[int, Tensor] = {}

    def neighbours(self, c: int, anchor: int) -> Tensor:
        """Indices (into the class's rows) of the k images nearest to row ``anchor``, itself included."""
        rows = self.data.rows(c)
        if c not in self._sqnorms:
            self._sqnorms[c] = (rows * rows).sum(1)
        d2 = self._sqnorms[c] - 2 * rows @ rows[anchor] + self._sqnorms[c][anchor]
        d2[anchor] = -1.0  # the anchor first, whatever the rounding
        k = min(self.cfg.k_neighbors, len(rows))
        return torch.topk(d2, k, largest=False).indices

    def fit(self, c: int, anchor: int) -> PCAFit:
        key = (c, anchor)
        if key in self.fits:
            self.fits.move_to_end(key)
            return self.fits[key]
        rows = self.data.rows(c)[self.neighbours(c, anchor)]
        fit = self.fits[key] = fit_pca(rows, self.cfg.retained_variance, self.cfg.component_scale)
        while len(self.fits) > self.MAX_CACHED:
            self.fits.popitem(last=False)
        return fit

    def _draw(self, c: int, n: int, gen: torch.Generator) -> Tensor:
        anchors = torch.randint(len(self.data.rows(c)), (n,), generator=gen)
        out = torch.empty(n, self.data.rows(c).shape[1])
        for a in torch.unique(anchors).tolist():
            idx = (anchors == a).nonzero().flatten()
            out[idx] = self.fit(c, int(a)).sample(len(idx), self.cfg.sigma, gen)
        return out
