"""Split data kept between trials, keyed by dataset, split and subsets: in the process and on the node.

A study's trials nearly always share one dataset, split and subset. Loading and decoding the files
again for every trial (and importing torchvision to read them) is most of a short trial's data cost,
so ``cached_split`` looks in two places before it decodes:

* this process (the last ``MAX_ENTRIES`` splits): a reused Ray worker runs many trials;
* this node's disk, ``cache_dir()/splits``: a fresh worker reads a few small tensors instead of
  decoding the whole dataset. Entries carry a fingerprint of the source files (sizes and mtimes of
  the torchvision files; the imagefolder scan's), so changed data is decoded again. Datasets whose
  source has no fingerprint function (``FINGERPRINTS``) are cached in memory only.

Only the uint8/int64 tensors are shared; each trial builds its own loaders (seeded by its own run
seed), and nothing writes to the shared tensors (loaders index and copy them), so a trial sees
exactly the data an uncached ``build_data`` would give it. The key is every data-config field
except the loader-only ones, plus the resolved root: a field that changes what is loaded always
changes the key.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from trainables.data import DATASETS
from trainables.data.bundle import SplitData, split_data
from trainables.data.roots import cache_dir, resolve_root

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig

LOADER_ONLY = frozenset({"augment", "loader", "num_workers", "download"})
MAX_ENTRIES = 2  # a study uses one; two covers e.g. a generation trial beside a training one
FORMAT = 1
TENSORS = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")

_memory: "OrderedDict[str, SplitData]" = OrderedDict()


def _torchvision_fingerprint(source, cfg: "DataConfig") -> Optional[str]:
    _, ready, _ = source._scan(resolve_root(cfg))
    if ready is None:  # not extracted (or downloaded) yet: ``load`` does that first
        return None
    stats = [(f, (ready / f).stat().st_size, (ready / f).stat().st_mtime_ns) for f in source.ready_files]
    return f"{ready}/{stats}"


def _imagefolder_fingerprint(source, cfg: "DataConfig") -> Optional[str]:
    from trainables.data.imagefolder import scan_folder

    return scan_folder(resolve_root(cfg)).fingerprint


def _fingerprints() -> dict[type, Callable]:
    from trainables.data.imagefolder import ImageFolder
    from trainables.data.torchvision_layout import TorchvisionSet

    return {TorchvisionSet: _torchvision_fingerprint, ImageFolder: _imagefolder_fingerprint}


def split_key(cfg: "DataConfig") -> str:
    """What determines the split tensors of ``cfg``: content fields and the resolved root."""
    fields = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in LOADER_ONLY}
    fields["root"] = str(resolve_root(cfg))
    return repr(sorted(fields.items()))


def cached_split(cfg: "DataConfig") -> SplitData:
    """``split_data(cfg)``, from this process or this node's disk when an earlier trial made it."""
    key = split_key(cfg)
    split = _memory.get(key)
    if split is None:
        split = _from_disk(cfg, key)
    _memory[key] = split
    _memory.move_to_end(key)
    while len(_memory) > MAX_ENTRIES:
        _memory.popitem(last=False)
    return split


def _from_disk(cfg: "DataConfig", key: str) -> SplitData:
    from trainables import checkpoint
    from trainables.errors import CheckpointError

    fingerprint = _fingerprint(cfg)
    path = disk_path(key)
    if fingerprint is not None and path.is_file():
        try:
            entry = checkpoint.load(path)
            if entry.get("format") == FORMAT and entry.get("key") == key and entry.get("fingerprint") == fingerprint:
                return SplitData(*(entry[t] for t in TENSORS), tuple(entry["class_names"]), tuple(entry["mean"]),
                                 tuple(entry["std"]))
        except (CheckpointError, KeyError, TypeError, AttributeError):
            pass  # unreadable or from another version: decode again and overwrite it
    split = split_data(cfg)
    fingerprint = fingerprint or _fingerprint(cfg)  # after a first extraction the files exist now
    if fingerprint is not None:
        try:
            checkpoint.save({"format": FORMAT, "key": key, "fingerprint": fingerprint,
                             **{t: getattr(split, t) for t in TENSORS}, "class_names": list(split.class_names),
                             "mean": list(split.mean), "std": list(split.std)}, path)
        except OSError:
            pass  # a read-only or full cache: the split is still good, only not shared
    return split


def _fingerprint(cfg: "DataConfig") -> Optional[str]:
    """The source files' fingerprint, or None (no disk caching) when there is none or it cannot be
    taken: then ``split_data`` runs and raises, in its own words, whatever is wrong with the data."""
    source = DATASETS.get(cfg.name)
    fn = _fingerprints().get(type(source))
    try:
        return fn(source, cfg) if fn is not None else None
    except Exception:  # noqa: BLE001 - missing or malformed data: reported by split_data below
        return None


def disk_path(key: str) -> Path:
    return cache_dir() / "splits" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"


def clear_memory() -> None:
    """Forget the splits held in this process (tests; or to free memory)."""
    _memory.clear()
