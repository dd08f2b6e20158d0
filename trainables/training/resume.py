"""A trial's checkpoint folder: written whole, checked whole, and restored from the newest whole one.

A Ray Tune trial reports a checkpoint folder every epoch (``state.pt``, ``best.pt``, ``records.jsonl``,
written by ``trainables.tune.trainable``), which Ray copies into the study's storage as ``checkpoint_NNNNNN`` and
keeps the last two of (``CheckpointConfig(num_to_keep=2)`` in ``study.run.engine``). Every file is written
atomically here, but the copy into the storage is Ray's, and on storage without atomic renames (a network
file system, a bucket) a kill during it can leave a folder with a file cut short or missing. So the
folder carries a manifest (``manifest.json``: each file's size, written last), a load checks it and
every checkpoint file's checksums (``trainables.checkpoint.verify``), and a torn folder is skipped for
the one before it, with a warning: the trial repeats the epochs after that one (its MLflow run does not
log them twice: ``study.tracking.sink``). When no whole folder is left the trial starts again from its first epoch.

Nothing here imports Ray: a checkpoint is anything with ``path``, ``filesystem`` (pyarrow) and
``as_directory()``, and its siblings are made with ``type(checkpoint)(path=..., filesystem=...)``.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from trainables.checkpoint import verify
from trainables.errors import CheckpointError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
HISTORY_FILE = "records.jsonl"
CHECKPOINT_DIR = re.compile(r"^checkpoint_(\d+)$")


def write_manifest(directory: str | Path) -> None:
    """Record the size of every file of a finished checkpoint folder (call it last)."""
    directory = Path(directory)
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file() and p.name != MANIFEST}
    (directory / MANIFEST).write_text(json.dumps({"files": files}))


def check(directory: str | Path) -> None:
    """Raise ``CheckpointError`` unless the folder is whole: its manifest's files all there at their sizes
    (folders written before manifests existed: not checked), and every ``.pt`` file's checksums right."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    if manifest.exists():
        try:
            files = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint {directory} is torn: its {MANIFEST} is unreadable ({e})") from None
        for name, size in files.items():
            p = directory / name
            if not p.is_file():
                raise CheckpointError(f"checkpoint {directory} is torn: {name} is missing")
            if p.stat().st_size != size:
                raise CheckpointError(f"checkpoint {directory} is torn: {name} has {p.stat().st_size} of its "
                                      f"{size} bytes")
    for pt in sorted(directory.glob("*.pt")):
        verify(pt)


def read_history(directory: str | Path) -> list[dict]:
    """The records a checkpoint folder carries (none for folders without them)."""
    path = Path(directory) / HISTORY_FILE
    if not path.exists():
        return []
    try:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except ValueError as e:
        raise CheckpointError(f"checkpoint {directory} is torn: {HISTORY_FILE} is cut short ({e})") from None


@dataclass
class Restored:
    """What a restore found: the history of the folder it used, and the torn folders it skipped (why)."""

    history: list[dict] = field(default_factory=list)
    used: str = ""
    skipped: list[str] = field(default_factory=list)

    @property
    def warning(self) -> Optional[str]:
        if not self.skipped:
            return None
        where = f"resumed from {self.used}" if self.used else "no whole checkpoint was left: started again from epoch 1"
        return f"skipped {len(self.skipped)} torn checkpoint(s) and {where}: " + " | ".join(self.skipped)


def earlier(checkpoint: Any) -> list[Any]:
    """The trial's other checkpoint folders older than ``checkpoint``, newest first (Ray keeps up to two)."""
    from pyarrow import fs as pafs

    path = str(checkpoint.path).rstrip("/")
    parent, _, name = path.rpartition("/")
    m = CHECKPOINT_DIR.match(name)
    if not m or checkpoint.filesystem is None:
        return []
    try:
        infos = checkpoint.filesystem.get_file_info(pafs.FileSelector(parent))
    except OSError:
        return []
    older = sorted(((int(mm.group(1)), i.path) for i in infos if i.type == pafs.FileType.Directory
                    and (mm := CHECKPOINT_DIR.match(i.base_name)) and int(mm.group(1)) < int(m.group(1))),
                   reverse=True)
    return [type(checkpoint)(path=p, filesystem=checkpoint.filesystem) for _, p in older]


def restore(checkpoint: Any, load: Callable[[Path], None]) -> Restored:
    """``load`` the newest whole folder among ``checkpoint`` and the ones before it; warn about torn ones.
    ``used`` is empty when none was whole (``load`` may then have been left half done: start afresh)."""
    out = Restored()
    for candidate in [checkpoint, *earlier(checkpoint)]:
        try:
            with candidate.as_directory() as d:
                check(d)
                history = read_history(d)
                load(Path(d))
        except CheckpointError as e:
            out.skipped.append(str(e) if str(candidate.path) in str(e) else f"{candidate.path}: {e}")
            continue
        out.history, out.used = history, str(candidate.path)
        break
    if out.warning:
        log.warning("%s", out.warning)
    return out

