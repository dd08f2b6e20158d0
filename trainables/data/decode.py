"""Decoding image files to uint8 tensors: batched JPEGs, torchvision for the rest, Pillow as the fallback.

Images come out as (C, H, W) with C 1 (grayscale) or 3 (colour), alpha dropped, resized when an
``image_size`` is set; ``stack_images`` makes one (N, C, H, W) tensor of a split, and
``channel_stats`` its per-channel mean and std. ``trainables.data.imagefolder`` finds the files.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import torch

from trainables.errors import InputError

_CHUNK = 2048


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


def decode_split(files: list[str], image_size: Optional[int]) -> list[torch.Tensor]:
    """Decode in chunks on a few threads, so that file reads and decoding can overlap."""
    chunks = [files[i : i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(lambda chunk: _decode_chunk(chunk, image_size), chunks)
        return [img for part in parts for img in part]


def stack_images(images: list[torch.Tensor], files: list[str], channels: int) -> torch.Tensor:
    shape = images[0].shape[1:]
    for img, f in zip(images, files):
        if img.shape[1:] != shape:
            raise InputError(
                f"imagefolder images must share one size unless data.image_size is set: {files[0]} is "
                f"{shape[0]}x{shape[1]} but {f} is {img.shape[1]}x{img.shape[2]}; set data.image_size to resize all"
            )
    # a 1-channel image becomes 3 identical channels in a colour set
    return torch.stack([img if img.shape[0] == channels else img.expand(channels, -1, -1) for img in images])


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
