"""A classifier from a checkpoint file the ``Trainer`` wrote: the file names, the run config and weights read
back (``weights_only`` loads), and the network rebuilt around them, with or without its data at hand. Every
reader of a trained model (generation, the study's answer, the model registry, the masking panel) comes here.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from torch import Tensor, nn

from trainables.errors import CheckpointError

if TYPE_CHECKING:
    from trainables.data import DataBundle
    from trainables.schema.config import RunConfig

STATE_FILE, BEST_FILE = "state.pt", "best.pt"  # the resumable state (last epoch), the selected epoch's weights
CHECKPOINT_FILES = (BEST_FILE, STATE_FILE)  # a directory: the selected weights first
_IMAGE_SIZES = (32, 28, 64, 96, 224)  # tried when no data says the size (only the small CNN depends on it)


def _checkpoint_file(path: Path) -> Path:
    if path.is_dir():
        for name in CHECKPOINT_FILES:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"no {' or '.join(CHECKPOINT_FILES)} in {path}; pass a checkpoint file or the "
                              f"directory a training wrote (…/checkpoint)")
    return path


def infer_facts(state: dict) -> dict[str, Any]:
    """num_classes, in_channels, mean and std from the weights themselves (no data at hand)."""
    mean, std = state.get("mean"), state.get("std")
    if not isinstance(mean, Tensor) or not isinstance(std, Tensor):
        raise CheckpointError("the checkpoint's model has no normalisation buffers (mean/std); it was not "
                              "written by this platform's Trainer")
    last_weight = [v for k, v in state.items() if k.endswith("weight") and isinstance(v, Tensor) and v.dim() == 2]
    if not last_weight:
        raise CheckpointError("cannot tell the number of classes from the checkpoint (no linear layer)")
    return {"num_classes": last_weight[-1].shape[0], "in_channels": mean.numel(),
            "mean": mean.flatten().tolist(), "std": std.flatten().tolist()}


def read_checkpoint(checkpoint_path: str | Path) -> tuple["RunConfig", dict, Path]:
    """The run config and model state of a ``best.pt`` / ``state.pt`` (or a directory holding one)."""
    from pydantic import ValidationError

    from trainables import checkpoint
    from trainables.schema.config import RunConfig

    path = _checkpoint_file(Path(checkpoint_path).expanduser())
    ckpt = checkpoint.load(path)
    if not isinstance(ckpt, dict) or "config_json" not in ckpt or "model" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a best.pt/state.pt written by this platform's Trainer "
                              f"(no config_json/model entries)")
    try:
        cfg = RunConfig.model_validate_json(ckpt["config_json"])
    except ValidationError as e:
        raise CheckpointError(f"checkpoint {path}: its run config does not validate: {str(e)[:300]}") from None
    return cfg, ckpt["model"], path


def build_classifier(cfg: "RunConfig", state: dict, data: Optional["DataBundle"] = None,
                     source: str | Path = "checkpoint") -> nn.Module:
    """The network of ``cfg`` with ``state`` loaded (eval mode, CPU).

    With ``data`` its facts (classes, channels, image size, normalisation) build the network; without,
    they are read off the weights, and the image size is the one whose shapes fit.
    """
    from trainables.models import build_from_config

    if data is not None:
        facts = {"num_classes": data.num_classes, "in_channels": data.in_channels, "mean": data.mean,
                 "std": data.std}
        sizes: tuple[int, ...] = (data.image_size,)
    else:
        facts = infer_facts(state)
        sizes = tuple(dict.fromkeys(s for s in (cfg.data.image_size, *_IMAGE_SIZES) if s))
    error = ""
    for size in sizes:
        model = build_from_config(cfg.model, facts["num_classes"], facts["in_channels"], facts["mean"], facts["std"],
                                  size)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            error = str(e)
            continue
        return model.eval()
    what = f"{data.name} ({data.num_classes} classes, {data.in_channels}x{data.image_size}x{data.image_size})" \
        if data is not None else "any image size tried"
    raise CheckpointError(f"{source} does not fit a {cfg.model.name} for {what}: {error[:300]}")


def load_classifier(checkpoint_path: str | Path, data: Optional["DataBundle"] = None) -> tuple[nn.Module, "RunConfig"]:
    """The model (eval mode, CPU) and run config of a ``best.pt`` / ``state.pt`` written by ``Trainer.save``
    (or of a directory holding one; ``best.pt`` first). ``data``: see ``build_classifier``."""
    cfg, state, path = read_checkpoint(checkpoint_path)
    return build_classifier(cfg, state, data, f"checkpoint {path}"), cfg
