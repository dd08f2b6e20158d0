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

from trainables.data import DATASETS, DatasetArrays, Location
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
    """The files of both splits, their labels, the class names, and the fingerprint of the folder."""

    files: dict[str, list[Path]]
    labels: dict[str, list[int]]
    class_names: tuple[str, ...]
    fingerprint: str


class ImageFolder:
    """The ``imagefolder`` dataset source."""

    name = "imagefolder"

    def locate(self, cfg: "DataConfig") -> Location:
        root = resolve_root(cfg)
        notes = [f"root {root} (from {root_source(cfg)})"]
        missing = [s for s in SPLITS if not (root / s).is_dir()]
        if missing:
            return Location(self.name, [root], None, f"not found: no {' and no '.join(f'{s}/' for s in missing)}", notes)
        try:
            scan = scan_folder(root)
        except InputError as e:
            return Location(self.name, [root], None, f"found but unusable: {e}", notes)
        cached = _cache_file(root, scan.fingerprint, cfg.image_size).is_file()
        counts = ", ".join(f"{len(scan.files[s])} {s}" for s in SPLITS)
        notes.append(f"decoded cache: {'present' if cached else 'absent'} ({_cache_file(root, scan.fingerprint, cfg.image_size)})")
        return Location(self.name, [root], root, f"found: {len(scan.class_names)} classes, {counts} images", notes)

    def load(self, cfg: "DataConfig") -> DatasetArrays:
        root = resolve_root(cfg)
        for split in SPLITS:
            if not (root / split).is_dir():
                raise DatasetNotFoundError(
                    f"dataset 'imagefolder': no {split}/ folder in {root} (the root came from {root_source(cfg)}). "
                    f"The folder must hold train/<class>/<images> and test/<class>/<images>; "
                    f"set data.root in the config or the {DATA_ENV} environment variable to that folder "
                    f"(`study data unpack ZIP DEST` builds it from a zip)"
                )
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
    classes = sorted(e.name for e in os.scandir(root / "train") if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise InputError(f"{root / 'train'} holds no class folders: expected train/<class>/<images>")
    test_classes = sorted(e.name for e in os.scandir(root / "test") if e.is_dir() and not e.name.startswith("."))
    if test_classes != classes:
        only_train, only_test = sorted(set(classes) - set(test_classes)), sorted(set(test_classes) - set(classes))
        raise InputError(
            f"train/ and test/ in {root} must hold the same class folders; "
            f"only in train: {only_train or 'none'}, only in test: {only_test or 'none'}"
        )
    files: dict[str, list[Path]] = {}
    labels: dict[str, list[int]] = {}
    count, newest = 0, 0
    for split in SPLITS:
        files[split], labels[split] = [], []
        for label, cls in enumerate(classes):
            folder = root / split / cls
            newest = max(newest, folder.stat().st_mtime_ns)
            entries = sorted(
                (e for e in os.scandir(folder)
                 if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in IMAGE_EXTENSIONS),
                key=lambda e: e.name,
            )
            if not entries:
                raise InputError(f"class folder {folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            for e in entries:
                newest = max(newest, e.stat().st_mtime_ns)
            files[split].extend(folder / e.name for e in entries)
            labels[split].extend([label] * len(entries))
            count += len(entries)
    fingerprint = hashlib.sha1(f"{count}/{newest}/{'/'.join(classes)}".encode()).hexdigest()[:12]
    return FolderScan(files, labels, tuple(classes), fingerprint)


# ----- decoding -------------------------------------------------------------------------------


def _decode_file(path: Path, image_size: Optional[int]) -> torch.Tensor:
    """One image as uint8 (C, H, W) with C 1 (grayscale) or 3 (colour); resized when ``image_size`` is set."""
    from torchvision.io import ImageReadMode, decode_image

    data = path.read_bytes()
    img = None
    try:
        img = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
    except Exception:  # a format torchvision cannot decode: Pillow below
        pass
    if img is not None and img.dtype == torch.uint8 and img.dim() == 3 and img.shape[0] in (1, 2, 3, 4):
        is_jpeg = data[:2] == b"\xff\xd8"
        if img.shape[0] == 2:  # grayscale + alpha
            img = img[:1]
        elif img.shape[0] == 4:  # RGBA (a 4-channel JPEG is CMYK: let Pillow convert it)
            img = None if is_jpeg else img[:3]
    else:
        img = None
    if img is None:
        img = _decode_pil(path)
    if image_size is not None and tuple(img.shape[1:]) != (image_size, image_size):
        from torchvision.transforms.v2.functional import resize

        img = resize(img, [image_size, image_size], antialias=True)
    return img


def _decode_pil(path: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            gray = im.mode in ("1", "L", "LA", "I", "I;16", "F")
            im = im.convert("L" if gray else "RGB")
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            return t.view(im.height, im.width, 1 if gray else 3).permute(2, 0, 1).contiguous()
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"cannot decode image {path}: {e}") from None


def _decode_split(files: list[Path], image_size: Optional[int]) -> list[torch.Tensor]:
    """Decode in chunks on a few threads (decoders release the GIL)."""
    chunks = [files[i : i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda chunk: [_decode_file(p, image_size) for p in chunk], chunks)
        return [img for part in parts for img in part]


def _stack(images: list[torch.Tensor], files: list[Path], channels: int) -> torch.Tensor:
    shape = images[0].shape[1:]
    for img, f in zip(images, files):
        if img.shape[1:] != shape:
            raise InputError(
                f"imagefolder images must share one size unless data.image_size is set: {files[0]} is "
                f"{shape[0]}x{shape[1]} but {f} is {img.shape[1]}x{img.shape[2]}; set data.image_size to resize all"
            )
    out = torch.empty((len(images), channels, *shape), dtype=torch.uint8)
    for i, img in enumerate(images):
        out[i] = img  # a 1-channel image broadcasts to 3 channels in a colour set
    return out


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


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images in [0, 1] units, in float64, chunked."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].to(torch.float64).div_(255.0)
        total += x.sum(dim=(0, 2, 3))
        total_sq += x.square().sum(dim=(0, 2, 3))
    n = images.numel() // c
    mean = total / n
    std = (total_sq / n - mean.square()).clamp_min(0).sqrt()
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


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
