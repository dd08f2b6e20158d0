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
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import BinaryIO

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
    with zipfile.ZipFile(zip_path) as zf, open(zip_path, "rb") as raw:
        plan = _plan(zf, zip_path)
        counts = {s: 0 for s in SPLITS}
        made: set[str] = set()
        for info, rel in plan:
            target = os.path.join(dest, rel)
            folder = os.path.dirname(target)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            _extract_member(zf, raw, info, target)
            counts[rel.split("/", 1)[0]] += 1
    if not all(counts.values()):
        empty = [s for s in SPLITS if not counts[s]]
        raise InputError(f"{zip_path} holds no files under {' or '.join(f'{s}/<class>/' for s in empty)}")
    marker.write_text(json.dumps({"source": source, "counts": counts}, indent=1))
    return counts


def _extract_member(zf: zipfile.ZipFile, raw: BinaryIO, info: zipfile.ZipInfo, target: str) -> None:
    """Write one member. Stored (uncompressed) members are copied straight from the archive with a CRC
    check, which is several times faster than ``ZipFile.open`` for 60k small files."""
    if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
        raw.seek(info.header_offset)
        header = raw.read(30)
        if header[:4] != b"PK\x03\x04":
            raise InputError(f"corrupted zip: bad local header for {info.filename!r}")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        raw.seek(info.header_offset + 30 + name_len + extra_len)
        data = raw.read(info.compress_size)
        if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
            raise InputError(f"corrupted zip: bad data or CRC for {info.filename!r}")
        with open(target, "wb") as out:
            out.write(data)
        return
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out)


def _plan(zf: zipfile.ZipFile, zip_path: Path) -> list[tuple[zipfile.ZipInfo, str]]:
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
        plan.append((info, "/".join(parts[split_at:])))
    return plan
