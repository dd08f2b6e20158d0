"""Generation end to end: a classifier and its data in, samples, per-class grids and metrics out.

The classifier comes from ``trainables.models.saved`` (a ``best.pt`` / ``state.pt`` written by
``Trainer.save``, loaded with weights_only=True); ``generate`` draws class-balanced samples (init → SGLD), measures them and saves the grids.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import Tensor, nn

from trainables.schema.generation import GenerationConfig
from trainables.generation.init import build_init
from trainables.generation.metrics import check_setup, compute_metrics, reference_subset, to_uint8
from trainables.generation.sampler import class_mean_energies, sgld
from trainables.models.saved import build_classifier, read_checkpoint

if TYPE_CHECKING:
    from trainables.data import DataBundle

METRICS_FILE = "metrics.json"


@dataclass
class GenerationResult:
    """Samples (float N×C×H×W in [0, 1], CPU) with their labels, per-sample SGLD outcome, metrics, files, timing."""

    samples: Tensor
    labels: Tensor
    steps: Tensor
    energies: Tensor
    frozen: Tensor
    class_energy: Optional[Tensor]
    metrics: dict[str, Any]
    grids: list[Path] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    config: Optional[GenerationConfig] = None

    def flat_metrics(self, prefix: str = "gen/") -> dict[str, float]:
        """Numeric results as one flat dict (``gen/fid``, ``gen/mean_steps``, ``gen/sgld_s`` …) for a tracker
        or a search objective."""
        out = {k: float(v) for k, v in self.metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
        out.update(mean_steps=float(self.steps.float().mean()), frozen_fraction=float(self.frozen.float().mean()),
                   mean_energy=float(self.energies.mean()), **self.timing)
        return {prefix + k: v for k, v in out.items()}

    def summary(self) -> dict[str, Any]:
        """JSON-ready: metrics, timing, SGLD outcome per class, the config (what metrics.json holds)."""
        per_class = {}
        for c in torch.unique(self.labels).tolist():
            m = self.labels == c
            row = {"n": int(m.sum()), "mean_steps": float(self.steps[m].float().mean()),
                   "frozen_fraction": float(self.frozen[m].float().mean()),
                   "mean_energy": float(self.energies[m].mean())}
            if self.class_energy is not None:
                row["target_energy"] = float(self.class_energy[c])
            per_class[str(c)] = row
        return {
            "metrics": self.metrics,
            "timing": self.timing,
            "sgld": {"mean_steps": float(self.steps.float().mean()), "frozen_fraction": float(self.frozen.float().mean()),
                     "mean_energy": float(self.energies.mean()), "per_class": per_class},
            "grids": [str(p) for p in self.grids],
            "config": self.config.model_dump(mode="json") if self.config else None,
        }


def _resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        from trainables.errors import InputError

        raise InputError("device 'cuda' was asked for but CUDA is not available; use device: auto or cpu")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def _real_batches(images: Tensor, labels: Tensor, batch_size: int, device: torch.device):
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size].to(device).float().div_(255), labels[i:i + batch_size].to(device)


def balanced_labels(n: int, num_classes: int) -> Tensor:
    """0, 1, …, K−1, 0, 1, …: ``n`` labels, as even over the classes as ``n`` allows."""
    return torch.arange(n) % num_classes


def _sample(model: nn.Module, init, labels: Tensor, class_energy: Tensor, cfg: GenerationConfig,
            device: torch.device) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Init then SGLD, batch by batch: samples, steps, energies, frozen flags (CPU) and the time of each stage."""
    sc, gen = cfg.sampler, torch.Generator().manual_seed(cfg.seed)
    parts: dict[str, list[Tensor]] = {"x": [], "steps": [], "energy": [], "frozen": []}
    timing = {"init_s": 0.0, "sgld_s": 0.0}
    for i in range(0, len(labels), cfg.batch_size):
        y = labels[i:i + cfg.batch_size]
        t0 = time.perf_counter()
        x0 = init.sample(y, gen).to(device)
        t1 = time.perf_counter()
        target = class_energy[y] if sc.guidance or sc.adaptive_stop else None
        r = sgld(model, x0, y.to(device), sc, target, gen)
        timing["init_s"] += t1 - t0
        timing["sgld_s"] += time.perf_counter() - t1
        for k, v in (("x", r.x), ("steps", r.steps), ("energy", r.energy), ("frozen", r.frozen)):
            parts[k].append(v.cpu())
    return {k: torch.cat(v) for k, v in parts.items()}, timing


def generate(model: nn.Module, data: "DataBundle", cfg: GenerationConfig,
             out_dir: str | Path | None = None) -> GenerationResult:
    """Sample ``cfg.n`` class-balanced images from ``model`` (init on ``data``'s train split, then SGLD),
    compute the metrics, and, with ``out_dir``, write the grids and metrics.json there."""
    t_start = time.perf_counter()
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        device = _resolve_device(cfg.device)
        weights = check_setup(cfg.metrics)  # a missing weights file must not cost a whole sampling run first
        model = model.to(device)
        t0 = time.perf_counter()  # Ē_y: the target of guidance and stop, and a yardstick in the summary
        m = cfg.energy_n or len(data.train_images)
        class_energy = class_mean_energies(
            model, _real_batches(data.train_images[:m], data.train_labels[:m], cfg.energy_batch_size, device),
            data.num_classes)
        timing = {"class_energy_s": time.perf_counter() - t0}
        init = build_init(cfg.init, data.train_images, data.train_labels)
        labels = balanced_labels(cfg.n, data.num_classes)
        parts, sample_timing = _sample(model, init, labels, class_energy, cfg, device)
        timing.update(sample_timing)
        t0 = time.perf_counter()
        metrics: dict[str, Any] = {}
        if cfg.metrics.any:
            reference = reference_subset(data.train_images, cfg.metrics.reference_n, cfg.metrics.reference_seed)
            metrics = compute_metrics(to_uint8(parts["x"]), reference, cfg.metrics, dataset=data.name,
                                      cuda=device.type == "cuda", seed=cfg.seed, weights=weights)
        timing["metrics_s"] = time.perf_counter() - t0
        result = GenerationResult(parts["x"], labels, parts["steps"], parts["energy"], parts["frozen"], class_energy,
                                  metrics, config=cfg, timing=timing)
        if out_dir is not None and cfg.grid.enabled:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            result.grids = save_grids(result.samples, labels, data.class_names, Path(out_dir), cfg)
        result.timing["total_s"] = time.perf_counter() - t_start
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / METRICS_FILE).write_text(json.dumps(result.summary(), indent=1))
        return result
    finally:
        torch.set_num_threads(threads_before)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "class"


def save_grids(samples: Tensor, labels: Tensor, class_names: tuple[str, ...], out: Path,
               cfg: GenerationConfig) -> list[Path]:
    """One PNG per class (``grid_class<k>_<name>.png``) and an overview with one row per class."""
    from torchvision.utils import save_image

    g, paths = cfg.grid, []
    rows = []
    for c, name in enumerate(class_names):
        xs = samples[labels == c]
        if len(xs) == 0:
            continue
        path = out / f"grid_class{c}_{_slug(name)}.png"
        save_image(xs[: g.per_class], path, nrow=g.nrow, padding=2, pad_value=1.0)
        paths.append(path)
        row = xs[: g.overview_per_class]
        if len(row) < g.overview_per_class:
            row = torch.cat([row, row.new_ones(g.overview_per_class - len(row), *row.shape[1:])])
        rows.append(row)
    if rows:
        path = out / "grid_all.png"
        save_image(torch.cat(rows), path, nrow=g.overview_per_class, padding=2, pad_value=1.0)
        paths.append(path)
    return paths


def load_for_generation(checkpoint_path: str | Path, data_root: str | Path | None = None):
    """(model, data, run config, checkpoint file) of a classifier to sample from: its training data is rebuilt
    from the checkpoint's run config (``data_root`` when the dataset moved), since the init, Ē_y and the FID
    reference all need it."""
    from trainables.data import build_data
    from trainables.errors import DatasetNotFoundError

    cfg, state, path = read_checkpoint(checkpoint_path)
    data_cfg = cfg.data.model_copy(update={"root": str(data_root)}) if data_root else cfg.data
    try:
        data = build_data(data_cfg, cfg.batch_size, "cpu", cfg.seed)
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"{e}\n(generation needs the classifier's training data for the init, Ē_y and "
                                   f"the FID reference: pass --data-root DIR / generation.data_root)") from None
    return build_classifier(cfg, state, data, f"checkpoint {path}"), data, cfg, path
