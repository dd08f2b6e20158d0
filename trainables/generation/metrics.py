"""IS / FID / KID of generated samples through torch-fidelity (imported lazily, here only).

FID and KID compare the samples with the dataset's train split; the real side's features and
statistics are cached in ``cache_dir()/fidelity`` under a key made of the reference images' hash,
the feature extractor and the weights file, so a second run (or a second init variant) pays for
the samples only. Weights are checked before torch-fidelity runs: a missing standard file while
offline is an ``InputError`` saying how to supply one (torch-fidelity would try a download), a
weights file must load with ``weights_only=True`` (torch-fidelity itself loads it unsafely), and
an FID-only file (zeroed ``fc`` layer, see shared/data/PROVENANCE.md) never yields an IS.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset

from trainables.errors import InputError
from trainables.schema.generation import MetricsConfig

INCEPTION = "inception-v3-compat"
STANDARD_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
# shared/data/weights/inception-v3-2015-12-05-fid-only.pth: pool features exact, fc zeroed (IS-invalid).
FID_ONLY_SHA256 = {"d9b36da80a6304d8ab322478ec0416c4a40882483c18593cf29fbe0cc25e83cd"}
GITHUB = "github.com"

# torch-fidelity's result keys -> ours
RESULT_KEYS = {
    "frechet_inception_distance": "fid",
    "kernel_inception_distance_mean": "kid_mean",
    "kernel_inception_distance_std": "kid_std",
    "inception_score_mean": "isc_mean",
    "inception_score_std": "isc_std",
}


class UInt8Images(Dataset):
    """uint8 N×C×H×W images as torch-fidelity wants them: 3×H×W uint8 (one channel repeated to three)."""

    def __init__(self, images: Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 N×C×H×W images with C in (1, 3), got {images.dtype} "
                             f"{tuple(images.shape)}")
        self.images = images.cpu()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1).contiguous() if x.shape[0] == 1 else x


def to_uint8(x: Tensor) -> Tensor:
    """Float images in [0, 1] to uint8 (rounded), as saved to PNG."""
    return x.detach().clamp(0, 1).mul(255).round_().to(torch.uint8).cpu()


@dataclass
class Weights:
    """Which feature-extractor weights a metric run uses, and what they allow."""

    path: Optional[Path]  # None: the feature extractor's own default (torch hub cache for Inception)
    key: str  # short id for cache names
    fid_only: bool = False
    notes: list[str] = field(default_factory=list)


def hub_weights_path() -> Path:
    """Where torch-fidelity looks for (and downloads) the standard Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / STANDARD_WEIGHTS_FILE


def _sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_state_dict(path: Path) -> dict:
    """The weights as a plain state dict, loaded with ``weights_only=True``; else an InputError."""
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # legacy (non-zip) files cannot be memory-mapped: read them whole
                raise
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any refusal or corruption reads the same to the user
        raise InputError(f"feature-extractor weights {path} could not be loaded safely (weights_only=True): "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:200]}. Pass a plain state_dict file.") from None
    if not isinstance(sd, dict):
        raise InputError(f"feature-extractor weights {path} hold a {type(sd).__name__}, not a state_dict")
    return sd


def is_fid_only(path: Path, state_dict: Optional[dict] = None) -> bool:
    """True for an Inception weights file whose classifier is unusable for IS: the known FID-only file
    (by sha256) or any file whose ``fc.weight`` is all zeros."""
    if _sha256(path) in FID_ONLY_SHA256:
        return True
    fc = (state_dict if state_dict is not None else _safe_state_dict(path)).get("fc.weight")
    return isinstance(fc, Tensor) and not bool(fc.any())


def _offline_reason() -> Optional[str]:
    """Why a download cannot happen now (None: it may)."""
    from trainables.data.network import OFFLINE_ENV, reachable

    if os.environ.get(OFFLINE_ENV):
        return f"${OFFLINE_ENV} is set"
    if not reachable(GITHUB):
        return f"no network connection to {GITHUB}"
    return None


def missing_weights_message(reason: str) -> str:
    hub = hub_weights_path()
    return (
        f"the Inception-v3 weights for IS/FID/KID ({STANDARD_WEIGHTS_FILE}) are not in the torch hub cache "
        f"({hub}) and cannot be downloaded ({reason}). Supply them in one of three ways:\n"
        f"  1. pass a local weights file: metrics.weights_path in the generation config, or --weights PATH "
        f"(e.g. shared/data/weights/inception-v3-2015-12-05-fid-only.pth: FID/KID valid, IS then not reported);\n"
        f"  2. copy the published {STANDARD_WEIGHTS_FILE} to {hub} (or point $TORCH_HOME at a cache that has it);\n"
        f"  3. run once with network access so torch-fidelity downloads it."
    )


def resolve_weights(cfg: MetricsConfig) -> Weights:
    """Check the weights before torch-fidelity would load (or download) them; say what they allow."""
    if cfg.weights_path:
        path = Path(cfg.weights_path).expanduser().absolute()
        if not path.is_file():
            raise InputError(f"feature-extractor weights file {path} does not exist (metrics.weights_path / --weights)")
        w = Weights(path, _sha256(path)[:12], fid_only=is_fid_only(path, _safe_state_dict(path)))
        if w.fid_only:
            w.notes.append(f"weights {path.name} are FID-only (fc layer all zeros): FID/KID valid, IS not reported")
        return w
    if cfg.feature_extractor != INCEPTION:
        return Weights(None, "default")
    hub = hub_weights_path()
    if hub.is_file():
        fid_only = is_fid_only(hub)
        w = Weights(None, "hub-" + _sha256(hub)[:12], fid_only=fid_only)
        if fid_only:
            w.notes.append(f"{hub} is an FID-only file under the published name: IS not reported")
        return w
    reason = _offline_reason()
    if reason:
        raise InputError(missing_weights_message(reason))
    return Weights(None, "hub-6726825d")  # torch-fidelity downloads the published file


def reference_key(dataset: str, images: Tensor, feature_extractor: str, weights: Weights) -> str:
    """Cache name of a reference set: dataset, content hash and size, feature extractor and weights."""
    digest = hashlib.sha1(images.contiguous().numpy().tobytes()).hexdigest()[:12]
    safe, fe = ("".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in s) for s in (dataset, feature_extractor))
    return f"gen-ref-{safe}-n{len(images)}-{digest}-{fe}-w{weights.key}"


def reference_subset(images: Tensor, n: Optional[int], seed: int) -> Tensor:
    """``n`` train images chosen at random with ``seed`` (all of them when ``n`` is None or larger)."""
    if n is None or n >= len(images):
        return images
    g = torch.Generator().manual_seed(seed)
    return images[torch.randperm(len(images), generator=g)[:n].sort().values]


def _check_feature_extractor(name: str) -> None:
    """A registered torch-fidelity name, or ``module:Class`` of a ``FeatureExtractorBase`` (registered on first use,
    in whichever process computes the metrics: how a study brings its own extractor to Ray workers)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if name not in FEATURE_EXTRACTORS_REGISTRY and ":" in name:
        module, attr = name.split(":", 1)
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise InputError(f"feature extractor {name!r} (metrics.feature_extractor) cannot be imported: {e}") from None
        register_feature_extractor(name, cls)
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        raise InputError(f"unknown feature extractor {name!r} (metrics.feature_extractor); torch-fidelity knows: "
                         f"{', '.join(sorted(FEATURE_EXTRACTORS_REGISTRY))}")


def check_setup(cfg: MetricsConfig) -> Optional[Weights]:
    """Fail fast (before any sampling) on an unknown feature extractor or unusable/missing weights."""
    if not cfg.any:
        return None
    _check_feature_extractor(cfg.feature_extractor)
    return resolve_weights(cfg)


def compute_metrics(samples: Tensor, reference: Tensor, cfg: MetricsConfig, dataset: str = "data",
                    cuda: Optional[bool] = None, cache_root: Optional[Path] = None, seed: int = 0,
                    weights: Optional[Weights] = None) -> dict[str, Any]:
    """IS (unless the weights forbid it), FID and KID of ``samples`` (uint8 N×C×H×W) against
    ``reference`` (uint8 real images, already subset). Returns our key names plus context and notes.
    ``weights``: what ``check_setup`` returned, so the weights file is not checked twice."""
    out: dict[str, Any] = {"n_samples": len(samples), "n_reference": len(reference),
                           "feature_extractor": cfg.feature_extractor, "notes": []}
    if not cfg.any:
        return out
    if weights is None:
        weights = check_setup(cfg)
    out["weights"] = str(weights.path) if weights.path else f"default ({weights.key})"
    out["notes"] += list(weights.notes)
    isc = cfg.isc
    if isc and weights.fid_only:
        isc = False
        out["notes"].append("isc absent: the Inception Score needs the real classifier layer")
    binary = cfg.fid or cfg.kid
    if not (isc or binary):
        return out
    if cache_root is None:
        from trainables.data import cache_dir

        cache_root = cache_dir() / "fidelity"
    cache_root.mkdir(parents=True, exist_ok=True)
    if cuda is None:
        cuda = torch.cuda.is_available()
    import torch_fidelity

    kwargs: dict[str, Any] = dict(
        input1=UInt8Images(samples), isc=isc, fid=cfg.fid, kid=cfg.kid,
        feature_extractor=cfg.feature_extractor, batch_size=cfg.batch_size, cuda=cuda, save_cpu_ram=True,
        cache_root=str(cache_root), verbose=cfg.verbose, rng_seed=seed, isc_splits=min(cfg.isc_splits, len(samples)),
    )
    if weights.path is not None:
        kwargs["feature_extractor_weights_path"] = str(weights.path)
    if binary:
        kwargs.update(input2=UInt8Images(reference),
                      input2_cache_name=reference_key(dataset, reference, cfg.feature_extractor, weights))
        if cfg.kid:
            # at most half the smaller set: subsets as large as a whole set are all the same set, and the
            # spread over subsets (kid_std) would read 0 whatever the sample size
            size = min(cfg.kid_subset_size, max(2, min(len(samples), len(reference)) // 2))
            kwargs.update(kid_subsets=cfg.kid_subsets, kid_subset_size=size)
            out["kid_subset_size"] = size
    raw = torch_fidelity.calculate_metrics(**kwargs)
    out.update({RESULT_KEYS[k]: float(v) for k, v in raw.items() if k in RESULT_KEYS})
    return out
