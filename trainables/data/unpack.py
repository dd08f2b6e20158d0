"""Unpack a zip of ``train/<class>/<image>`` and ``test/<class>/<image>`` into the imagefolder layout.

Made for the CIFAR-10 JPEG zip but general: a leading folder above train/ and test/ is dropped,
members outside train/ and test/ are skipped, and any member that could escape ``dest`` (absolute,
``..``, symlink) refuses the whole archive before anything is written. A marker file written last
makes a second call a no-op and an interrupted one repeat.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from trainables.errors import InputError

MARKER = ".unpacked.json"
SPLITS = ("train", "test")


def unpack_zip(zip_path: str | os.PathLike, dest: str | os.PathLike) -> dict[str, int]:
    """Extract ``zip_path`` into ``dest/train/<class>/…`` and ``dest/test/<class>/…``; return files per split."""
    zip_path, dest = Path(zip_path).expanduser().absolute(), Path(dest).expanduser().absolute()
    if not zip_path.is_file():
        raise InputError(f"zip file not found: {zip_path}")
    if not zipfile.is_zipfile(zip_path):
        raise InputError(f"not a zip file: {zip_path}")
    st = zip_path.stat()
    source = {"zip": str(zip_path), "size": st.st_size}
    marker = dest / MARKER
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("source", {}).get("size") == st.st_size and Path(done["source"]["zip"]).name == zip_path.name:
            return dict(done["counts"])
        raise InputError(
            f"{dest} already holds the unpacked {done.get('source', {}).get('zip')}; "
            f"unpack {zip_path} into an empty folder instead"
        )
    with zipfile.ZipFile(zip_path) as zf:
        plan = _plan(zf, zip_path)
        counts = {s: 0 for s in SPLITS}
        made: set[Path] = set()
        for info, rel in plan:
            target = dest.joinpath(*rel.parts)
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            counts[rel.parts[0]] += 1
    if not all(counts.values()):
        empty = [s for s in SPLITS if not counts[s]]
        raise InputError(f"{zip_path} holds no files under {' or '.join(f'{s}/<class>/' for s in empty)}")
    marker.write_text(json.dumps({"source": source, "counts": counts}, indent=1))
    return counts


def _plan(zf: zipfile.ZipFile, zip_path: Path) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """(member, path relative to dest) for every file under train/<class>/ or test/<class>/; refuses unsafe members."""
    plan = []
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        path = PurePosixPath(name)
        if name.startswith("/") or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise InputError(f"refusing to unpack {zip_path}: member {info.filename!r} would escape the destination")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"refusing to unpack {zip_path}: member {info.filename!r} is a symbolic link")
        if info.is_dir():
            continue
        parts = path.parts
        split_at = next((i for i, p in enumerate(parts) if p in SPLITS), None)
        if split_at is None or len(parts) - split_at != 3 or parts[-1].startswith("."):
            continue  # not <split>/<class>/<file>: README, index files, macOS metadata …
        plan.append((info, PurePosixPath(*parts[split_at:])))
    return plan
