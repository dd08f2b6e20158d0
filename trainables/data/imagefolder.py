"""``imagefolder``: a folder with ``train/<class>/*`` and ``test/<class>/*`` images, decoded once and cached.

Sorted class folder names give the label order. All images are decoded to one uint8 (N, C, H, W)
tensor per split (grayscale stays 1 channel unless any image is colour; alpha is dropped) and
saved under ``cache_dir()/imagefolder`` keyed by the folder's absolute path and a cheap
fingerprint (file count, newest mtime, image_size), so the second load of 60k JPEGs takes a
fraction of a second and a changed folder is decoded again.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from trainables.data import DATASETS, DatasetArrays, DatasetFacts, Location
from trainables.data.decode import channel_stats, decode_split, stack_images
from trainables.data.facts import folder_facts
from trainables.data.roots import DATA_ENV, cache_dir, path_key, resolve_root, root_source
from trainables.errors import DatasetNotFoundError, InputError

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
SPLITS = ("train", "test")
CACHE_FORMAT = 1


@dataclass(frozen=True)
class FolderScan:
    """The files of both splits (plain strings: 60k ``Path`` objects cost a second), labels, classes, fingerprint."""

    files: dict[str, list[str]]
    labels: dict[str, list[int]]
    class_names: tuple[str, ...]
    fingerprint: str


class ImageFolder:
    """The ``imagefolder`` dataset source."""

    name = "imagefolder"

    def locate(self, cfg: "DataConfig") -> Location:
        root = resolve_root(cfg)
        notes = [f"root {root} (from {root_source(cfg)})"]
        missing = [f"{s}/" for s in SPLITS if not (root / s).is_dir()]
        if missing:
            return Location(self.name, [root], None, "missing", f"not found: no {' and no '.join(missing)}", notes)
        try:
            scan = scan_folder(root)
        except InputError as e:
            return Location(self.name, [root], None, "unusable", f"found but unusable: {e}", notes)
        cache = _cache_file(root, scan.fingerprint, cfg.image_size)
        notes.append(f"decoded cache: {'present' if cache.is_file() else 'absent'} ({cache})")
        counts = ", ".join(f"{len(scan.files[s])} {s}" for s in SPLITS)
        detail = f"found: {len(scan.class_names)} classes, {counts} images"
        return Location(self.name, [root], root, "ready", detail, notes)

    def _require_splits(self, root: Path, cfg: "DataConfig") -> None:
        for split in SPLITS:
            if not (root / split).is_dir():
                raise DatasetNotFoundError(
                    f"dataset 'imagefolder': no {split}/ folder in {root} (the root came from {root_source(cfg)}). "
                    f"The folder must hold train/<class>/<images> and test/<class>/<images>; "
                    f"set data.root in the config or the {DATA_ENV} environment variable to that folder "
                    f"(`study data unpack ZIP DEST` builds it from a zip)"
                )

    def check(self, cfg: "DataConfig") -> None:
        """Raise the error ``load`` would raise for a missing or unusable tree, without decoding anything."""
        root = resolve_root(cfg)
        self._require_splits(root, cfg)
        scan_folder(root)

    def facts(self, cfg: "DataConfig") -> DatasetFacts:
        """Counts and classes from the file listing, the image size from a few headers (nothing decoded)."""
        root = resolve_root(cfg)
        self._require_splits(root, cfg)
        return folder_facts(scan_folder(root), cfg.image_size)

    def load(self, cfg: "DataConfig") -> DatasetArrays:
        root = resolve_root(cfg)
        self._require_splits(root, cfg)
        scan = scan_folder(root)
        path = _cache_file(root, scan.fingerprint, cfg.image_size)
        arrays = _load_cache(path, scan)
        if arrays is None:
            arrays = _decode_folder(root, scan, cfg.image_size)
            _save_cache(path, arrays)
        arrays.source = root
        return arrays


def scan_folder(root: Path) -> FolderScan:
    """List the images of train/ and test/, check the class folders, and fingerprint the lot."""
    classes = _class_dirs(root / "train")
    if not classes:
        raise InputError(f"{root / 'train'} holds no class folders: expected train/<class>/<images>")
    test_classes = _class_dirs(root / "test")
    if test_classes != classes:
        only_train, only_test = sorted(set(classes) - set(test_classes)), sorted(set(test_classes) - set(classes))
        raise InputError(
            f"train/ and test/ in {root} must hold the same class folders; "
            f"only in train: {only_train or 'none'}, only in test: {only_test or 'none'}"
        )
    files: dict[str, list[str]] = {}
    labels: dict[str, list[int]] = {}
    count, newest = 0, 0
    for split in SPLITS:
        files[split], labels[split] = [], []
        for label, cls in enumerate(classes):
            folder = os.path.join(root, split, cls)
            newest = max(newest, os.stat(folder).st_mtime_ns)
            names = []
            with os.scandir(folder) as it:
                for e in it:
                    if e.name[0] != "." and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and e.is_file():
                        names.append(e.name)
                        newest = max(newest, e.stat().st_mtime_ns)
            if not names:
                raise InputError(f"class folder {folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            names.sort()
            files[split].extend(os.path.join(folder, n) for n in names)
            labels[split].extend([label] * len(names))
            count += len(names)
    fingerprint = hashlib.sha1(f"{count}/{newest}/{'/'.join(classes)}".encode()).hexdigest()[:12]
    return FolderScan(files, labels, tuple(classes), fingerprint)


def _class_dirs(split_dir: Path) -> list[str]:
    with os.scandir(split_dir) as it:
        return sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))


# ----- decoding (the files of a scan into arrays; the image codecs are trainables.data.decode) --------


def _decode_folder(root: Path, scan: FolderScan, image_size: Optional[int]) -> DatasetArrays:
    decoded = {s: decode_split(scan.files[s], image_size) for s in SPLITS}
    channels = 3 if any(img.shape[0] == 3 for s in SPLITS for img in decoded[s]) else 1
    train_x = stack_images(decoded["train"], scan.files["train"], channels)
    test_x = stack_images(decoded["test"], scan.files["test"], channels)
    if train_x.shape[2:] != test_x.shape[2:]:
        raise InputError(
            f"train images in {root} are {tuple(train_x.shape[2:])} but test images are "
            f"{tuple(test_x.shape[2:])}; set data.image_size to resize all"
        )
    mean, std = channel_stats(train_x)
    return DatasetArrays(
        train_x,
        torch.tensor(scan.labels["train"], dtype=torch.int64),
        test_x,
        torch.tensor(scan.labels["test"], dtype=torch.int64),
        scan.class_names,
        mean,
        std,
        root,
    )


# ----- cache ----------------------------------------------------------------------------------


def _cache_file(root: Path, fingerprint: str, image_size: Optional[int]) -> Path:
    size = f"s{image_size}" if image_size else "native"
    return cache_dir() / "imagefolder" / f"{path_key(root)}-{fingerprint}-{size}.pt"


def _load_cache(path: Path, scan: FolderScan) -> Optional[DatasetArrays]:
    if not path.is_file():
        return None
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated or from an incompatible version: decode again
        return None
    if d.get("format") != CACHE_FORMAT or tuple(d["class_names"]) != scan.class_names:
        return None
    return DatasetArrays(
        d["train_x"], d["train_y"], d["test_x"], d["test_y"],
        tuple(d["class_names"]), tuple(d["mean"]), tuple(d["std"]),
    )


def _save_cache(path: Path, a: DatasetArrays) -> None:
    """Write atomically, then drop older entries of the same folder (their fingerprint is stale)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CACHE_FORMAT,
        "root": str(a.source),
        "train_x": a.train_x, "train_y": a.train_y, "test_x": a.test_x, "test_y": a.test_y,
        "class_names": list(a.class_names), "mean": list(a.mean), "std": list(a.std),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    size_tag = path.name.rsplit("-", 1)[1]
    for old in path.parent.glob(f"{path.name.split('-')[0]}-*-{size_tag}"):
        if old != path:
            old.unlink(missing_ok=True)


DATASETS.register("imagefolder")(ImageFolder())
