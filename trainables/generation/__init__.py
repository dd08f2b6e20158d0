"""Class-conditional generation from a robust classifier (method.md §8): a class-wise (or local)
PCA start, then SGLD with momentum on the joint energy E(x, y) = −f(x)[y], guided toward the mean
energy of real images of the class and stopped per sample; IS/FID/KID through torch-fidelity
(imported only when metrics are computed)."""
from trainables.schema.overrides import with_overrides
from trainables.schema.generation import GenerationConfig
from trainables.generation.init import INITS, build_init, fit_pca
from trainables.generation.metrics import compute_metrics, resolve_weights, to_uint8
from trainables.generation.run import GenerationResult, generate, save_grids
from trainables.generation.sampler import SampleResult, class_mean_energies, sgld

__all__ = [
    "GenerationConfig",
    "GenerationResult",
    "INITS",
    "SampleResult",
    "build_init",
    "class_mean_energies",
    "compute_metrics",
    "fit_pca",
    "generate",
    "resolve_weights",
    "save_grids",
    "sgld",
    "to_uint8",
    "with_overrides",
]
