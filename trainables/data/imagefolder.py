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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from trainables.data import DATASETS, DatasetArrays, DatasetFacts, Location
from trainables.data.facts import folder_facts
from trainables.data.roots import DATA_ENV, cache_dir, path_key, resolve_root, root_source
from trainables.errors import DatasetNotFoundError, InputError

if TYPE_CHECKING:
    from trainables.config import DataConfig

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
SPLITS = ("train", "test")
CACHE_FORMAT = 1
_CHUNK = 2048


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


# ----- decoding -------------------------------------------------------------------------------


def _decode_chunk(files: list[str], image_size: Optional[int]) -> list[torch.Tensor]:
    """Images as uint8 (C, H, W), C 1 (grayscale) or 3 (colour), resized when ``image_size`` is set.

    JPEGs are decoded in one batched torchvision call (3x faster than one by one); other formats one
    by one by torchvision, and what it cannot do (BMP, TIFF, CMYK JPEG …) by Pillow.
    """
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    blobs, jpegs = [], []
    for i, f in enumerate(files):
        with open(f, "rb") as fh:
            data = fh.read()
        if data[:2] == b"\xff\xd8":
            jpegs.append(i)
        blobs.append(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    out: list[Optional[torch.Tensor]] = [None] * len(files)
    if jpegs:
        try:
            for i, img in zip(jpegs, decode_jpeg([blobs[i] for i in jpegs], mode=ImageReadMode.UNCHANGED)):
                out[i] = img
        except RuntimeError:  # one bad or exotic JPEG spoils the batch: go one by one below
            pass
    jpeg_set = set(jpegs)
    for i, blob in enumerate(blobs):
        if out[i] is None:
            try:
                out[i] = decode_image(blob, mode=ImageReadMode.UNCHANGED)
            except RuntimeError:
                pass
        out[i] = _normalize_channels(out[i], is_jpeg=i in jpeg_set) if out[i] is not None else None
        if out[i] is None:
            out[i] = _decode_pil(files[i])
    if image_size is not None:
        from torchvision.transforms.v2.functional import resize

        out = [img if tuple(img.shape[1:]) == (image_size, image_size)
               else resize(img, [image_size, image_size], antialias=True) for img in out]
    return out  # type: ignore[return-value]


def _normalize_channels(img: torch.Tensor, is_jpeg: bool) -> Optional[torch.Tensor]:
    """1 or 3 channels; alpha dropped. None when Pillow should convert instead (CMYK JPEG, 16-bit)."""
    if img.dtype != torch.uint8 or img.dim() != 3:
        return None
    c = img.shape[0]
    if c in (1, 3):
        return img
    if c == 2:
        return img[:1]
    if c == 4 and not is_jpeg:
        return img[:3]
    return None


def _decode_pil(path: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            gray = im.mode in ("1", "L", "LA", "I", "I;16", "F")
            im = im.convert("L" if gray else "RGB")
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            return t.view(im.height, im.width, 1 if gray else 3).permute(2, 0, 1).contiguous()
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"cannot decode image {path}: {e}") from None


def _decode_split(files: list[str], image_size: Optional[int]) -> list[torch.Tensor]:
    """Decode in chunks on a few threads, so that file reads and decoding can overlap."""
    chunks = [files[i : i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda chunk: _decode_chunk(chunk, image_size), chunks)
        return [img for part in parts for img in part]


def _stack(images: list[torch.Tensor], files: list[str], channels: int) -> torch.Tensor:
    shape = images[0].shape[1:]
    for img, f in zip(images, files):
        if img.shape[1:] != shape:
            raise InputError(
                f"imagefolder images must share one size unless data.image_size is set: {files[0]} is "
                f"{shape[0]}x{shape[1]} but {f} is {img.shape[1]}x{img.shape[2]}; set data.image_size to resize all"
            )
    # a 1-channel image becomes 3 identical channels in a colour set
    return torch.stack([img if img.shape[0] == channels else img.expand(channels, -1, -1) for img in images])


def _decode_folder(root: Path, scan: FolderScan, image_size: Optional[int]) -> DatasetArrays:
    decoded = {s: _decode_split(scan.files[s], image_size) for s in SPLITS}
    channels = 3 if any(img.shape[0] == 3 for s in SPLITS for img in decoded[s]) else 1
    train_x = _stack(decoded["train"], scan.files["train"], channels)
    test_x = _stack(decoded["test"], scan.files["test"], channels)
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


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images, in [0, 1] units, rounded to 4 places.

    Exact and cheap: from a 256-bin histogram per channel instead of a float copy of the images.
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        n = hist.sum()
        mean = (hist * values).sum() / n
        var = (hist * (values - mean).square()).sum() / n
        means.append(round(mean.item(), 4))
        stds.append(round(var.sqrt().item(), 4))
    return tuple(means), tuple(stds)


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
