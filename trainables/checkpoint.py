"""Checkpoint files: atomic, durable writes, and verified safe loads (``weights_only=True``) with clear errors.

A write goes to a temporary file in the same folder, is flushed to the disk (``fsync``) and only then
renamed over the target, so a kill or a power cut during the write leaves the previous file whole
(and at worst a stray ``.*.tmp`` file, which nothing reads). A full disk surfaces as the ``OSError``
(ENOSPC) of the write, the previous file untouched.

A load first verifies the file: torch writes a zip archive with a CRC-32 per entry, and torch's own
reader does not check them (a flipped byte loads as a wrong weight); ``verify`` reads every entry
and checks it, and a truncated file (a copy torn by a kill, on storage without atomic renames) has
no zip directory at all. Either way the error is a ``CheckpointError`` naming the file; callers
that keep an earlier checkpoint (a Ray Tune trial: ``trainables.training.resume``) fall back to it.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from trainables.errors import CheckpointError

TMP_SUFFIX = ".tmp"


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` to ``path`` atomically and durably (a crash mid-write never leaves a truncated file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:  # a file object: a full disk raises OSError(ENOSPC), not only torch's RuntimeError
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)  # never leave a partial temporary file behind (it fills a full disk further)
        cause = e.__context__ if isinstance(e, RuntimeError) else None
        if isinstance(cause, OSError):  # torch's writer failed closing the archive after the disk's own error
            raise cause from None
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (the folder entry); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def verify(path: str | os.PathLike) -> None:
    """Raise ``CheckpointError`` unless ``path`` is a whole checkpoint: a zip whose every entry matches its CRC.
    Files in torch's legacy (non-zip) format are left to the loader."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path (or the run's workspace)")
    try:
        if not zipfile.is_zipfile(path):
            if _looks_like_torch_zip(path):
                raise CheckpointError(f"checkpoint {path} is truncated (its zip directory is missing: the write was "
                                      f"cut short); {_FIX}")
            return
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, EOFError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is torn ({type(e).__name__}: {str(e)[:200]}); {_FIX}") from None
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is corrupted: its entry {bad!r} does not match its checksum; {_FIX}")


_FIX = "delete it to restart from an earlier checkpoint or from scratch"


def _looks_like_torch_zip(path: Path) -> bool:
    """A zip local-file header at the start: torch's format, even when the end (the directory) is missing."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Verify, then load a checkpoint with ``weights_only=True``; any failure names the file and the fix."""
    path = Path(path)
    verify(path)
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
            f"checkpoint {path} is truncated or corrupted ({type(e).__name__}: {str(e)[:200]}); {_FIX}"
        ) from None
