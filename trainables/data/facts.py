"""Dataset facts known without decoding anything, for the checks that run before a study starts.

The torchvision sets have published sizes (the table below: train and test images and classes as
distributed by their authors and torchvision). An imagefolder is counted from its file listing,
and its image size and colour read from the header of the first image of every class folder (a
handful of files; the full decode happens once, in the trials, and is cached).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from trainables.errors import InputError

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig
    from trainables.data import DatasetFacts
    from trainables.data.imagefolder import FolderScan

PUBLISHED = {  # name: (train images, test images, classes)
    "cifar10": (50_000, 10_000, 10),
    "cifar100": (50_000, 10_000, 100),
    "svhn": (73_257, 26_032, 10),
    "mnist": (60_000, 10_000, 10),
    "fashion_mnist": (60_000, 10_000, 10),
}
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # as imagefolder decodes them


def published_facts(name: str, in_channels: int, image_size: int, cfg: "DataConfig") -> "DatasetFacts":
    from trainables.data import DatasetFacts

    if cfg.image_size is not None and cfg.image_size != image_size:
        raise InputError(f"data.image_size={cfg.image_size} is only supported by the imagefolder dataset; {name} "
                         f"images are {image_size}x{image_size}; leave data.image_size unset")
    train, test, classes = PUBLISHED[name]
    return DatasetFacts(name, train, test, classes, in_channels, (image_size, image_size))


def folder_facts(scan: "FolderScan", image_size: Optional[int]) -> "DatasetFacts":
    """Facts of a scanned imagefolder; images of different sizes without data.image_size are refused here."""
    from PIL import Image, UnidentifiedImageError

    from trainables.data import DatasetFacts

    firsts: dict[tuple[str, int], str] = {}
    for split in scan.files:
        for f, label in zip(scan.files[split], scan.labels[split]):
            firsts.setdefault((split, label), f)
    shapes: dict[tuple[int, int], str] = {}  # (height, width): first file of that shape
    colour = False
    for f in firsts.values():
        try:
            with Image.open(f) as im:
                shapes.setdefault((im.height, im.width), f)
                colour = colour or im.mode not in _GRAY_MODES
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"cannot read image {f}: {e}; remove or replace it") from None
    if image_size is None and len(shapes) > 1:
        (a, fa), (b, fb) = list(shapes.items())[:2]
        raise InputError(f"imagefolder images must share one size unless data.image_size is set: {fa} is "
                         f"{a[1]}x{a[0]} but {fb} is {b[1]}x{b[0]}; set data.image_size (e.g. 32) to resize all")
    shape = (image_size, image_size) if image_size else next(iter(shapes))
    return DatasetFacts("imagefolder", len(scan.files["train"]), len(scan.files["test"]), len(scan.class_names),
                        3 if colour else 1, shape)
