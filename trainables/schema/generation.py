"""Typed configuration of class-conditional generation from a robust classifier (method.md §8).

Defaults are method.md's where it gives one (PCA init with r = 0.95, σ = 0.01, SGLD with η = 1,
40 steps, σ_ξ = 0.001, energy guidance with adaptive stopping, Inception-v3 FID). Where it gives
none (momentum ζ, τ, k of local PCA) the default is our choice, documented on the field.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from trainables.schema.registry import registry
from trainables.schema.strict import Strict as _Strict


class InitConfig(_Strict):
    """Where SGLD starts (``trainables.generation.init.INITS``)."""

    name: str = Field("pca", description="uniform | class_gaussian | pca | local_pca")
    retained_variance: float = Field(0.95, gt=0, le=1, description="r: PCA keeps the fewest components "
                                     "whose share of the variance reaches r.")
    sigma: float = Field(0.01, ge=0, description="σ, the noise scale along the principal components "
                         "(method.md: about 0.005-0.02).")
    component_scale: Literal["singular_value", "std"] = Field(
        "singular_value", description="s_i: the singular value of the centred data matrix (method.md's "
        "reading: σ·s_i ≈ σ·sqrt(n)·std, so σ = 0.01 on ~6,000 images spreads about one std) or the "
        "component's std (singular value / sqrt(n-1)).")
    k_neighbors: int = Field(100, ge=2, description="local_pca: neighbours (pixel L2, same class) of the "
                             "anchor image that the PCA is fitted on (our default).")
    max_fit_images: Optional[int] = Field(None, gt=1, description="Fit each class on at most this many "
                                          "images (None: all of the class in the train split).")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        registry("init").get(v)
        return v


class SamplerConfig(_Strict):
    """SGLD with momentum on the joint energy E(x, y) = −f(x)[y], model in eval mode."""

    steps: int = Field(40, ge=0, description="SGLD steps (method.md: 20-50).")
    step_size: float = Field(1.0, gt=0, description="η (method.md: 0.5-1).")
    momentum: float = Field(0.5, ge=0, lt=1, description="ζ in v ← ζ·v − (η/2)·∇L (our default).")
    noise_std: float = Field(0.001, ge=0, description="σ_ξ: the Langevin noise is sqrt(2η)·σ_ξ·ξ.")
    guidance: bool = Field(True, description="Minimise (E(x, y) − Ē_y)² (Ē_y: mean joint energy of real "
                           "class-y train images) instead of E(x, y).")
    adaptive_stop: bool = Field(True, description="Freeze a sample for good once (E(x, y) − Ē_y)² < τ.")
    tau: float = Field(0.01, gt=0, description="τ of the adaptive stop (our default: |E − Ē_y| < 0.1).")


class MetricsConfig(_Strict):
    """IS / FID / KID through torch-fidelity, FID against the dataset's train split."""

    fid: bool = True
    kid: bool = True
    isc: bool = Field(True, description="Inception Score; never reported with FID-only weights.")
    feature_extractor: str = Field("inception-v3-compat", description="A torch-fidelity feature extractor name, or "
                                   "module:Class of a FeatureExtractorBase subclass (registered on use).")
    weights_path: Optional[str] = Field(
        None, description="Local weights file for the feature extractor (torch-fidelity's "
        "feature_extractor_weights_path); None: the standard file from the torch hub cache.")
    reference_n: Optional[int] = Field(None, gt=1, description="Real train images for the reference statistics "
                                       "(a seeded random subset; None: the whole train split).")
    reference_seed: int = 0
    kid_subsets: int = Field(100, ge=1)
    kid_subset_size: int = Field(1000, ge=2, description="Capped at half the smaller set's size.")
    isc_splits: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    verbose: bool = Field(False, description="Let torch-fidelity print its progress.")

    @property
    def any(self) -> bool:
        return self.fid or self.kid or self.isc


class GridConfig(_Strict):
    """Per-class sample grids saved as PNG."""

    enabled: bool = True
    per_class: int = Field(64, ge=1, description="Samples shown per class grid.")
    nrow: int = Field(8, ge=1)
    overview_per_class: int = Field(10, ge=1, description="Samples per class (one row each) in grid_all.png.")


class GenerationConfig(_Strict):
    """One generation run: how to start, how to sample, what to measure, what to save."""

    init: InitConfig = Field(default_factory=InitConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    grid: GridConfig = Field(default_factory=GridConfig)
    n: int = Field(10_000, ge=1, description="Samples in all, balanced over the classes (method.md: 10k).")
    batch_size: int = Field(250, ge=1, description="Samples per SGLD batch.")
    energy_batch_size: int = Field(500, ge=1, description="Batch for Ē_y over the real train images.")
    energy_n: Optional[int] = Field(None, ge=1, description="Ē_y from the first energy_n train images (the split "
                                    "is shuffled); None: all of them.")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: Optional[int] = Field(None, ge=1, description="torch CPU threads; None: torch's default.")
