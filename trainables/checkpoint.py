"""Checkpoint files: atomic writes, and safe loads (``weights_only=True``) with clear errors."""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from trainables.errors import CheckpointError


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` to ``path`` atomically (a crash mid-write never leaves a truncated file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True``; any failure names the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path (or the run's workspace)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"checkpoint {path} was refused by the safe loader (weights_only=True): it holds objects "
            f"other than tensors and plain containers ({str(e).splitlines()[0][:200]}). Only load "
            f"checkpoints this platform wrote, or re-save the weights as a plain state_dict."
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupted ({type(e).__name__}: {str(e)[:200]}); "
            f"delete it to restart from an earlier checkpoint or from scratch"
        ) from None
