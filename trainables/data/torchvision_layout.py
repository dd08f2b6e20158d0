"""One torchvision dataset on disk: where its files are, extracting its archives, downloading it, reading it.

Files are looked for under the data root and its conventional subfolders (``root/fashion-mnist``
…). The user's data folder is only read: archives found there (``*.gz``, ``*.tar.gz``) are
extracted into a staging folder in the cache, and so are downloads (unless the root is the cache's
own ``data`` folder, the default). The network is used only when the files are
absent, ``download`` is on, and a quick probe says the host is reachable, so offline runs fail
fast with a message that says where we looked and how to fix it. ``$STUDY_OFFLINE`` (any value)
turns downloads off altogether. The table of datasets is ``trainables.data.torchvision_sets``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional

import torch

from trainables.data import DatasetArrays, DatasetFacts, Location, network
from trainables.data.facts import published_facts
from trainables.data.network import OFFLINE_ENV
from trainables.data.roots import DATA_ENV, cache_dir, in_cache, path_key, resolve_root, root_source
from trainables.errors import DatasetNotFoundError, InputError

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig


@dataclass(frozen=True)
class TorchvisionSet:
    """How one torchvision dataset is laid out on disk, downloaded, and described."""

    name: str
    tv_class: str
    ready_files: tuple[str, ...]  # relative to the dataset dir: present means loadable with download=False
    archives: tuple[str, ...]  # relative: present means extractable offline
    extract_into: str  # relative folder the archives are extracted into
    alt_dirs: tuple[str, ...]  # conventional subfolders of the root also searched
    host: str  # probed before any download
    layout: Literal["NHW", "NHWC", "NCHW"]
    split_kwargs: tuple[dict[str, Any], dict[str, Any]]  # (train, test) constructor arguments
    image_size: int
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = field(default=())  # fallback when torchvision has no `classes`

    # ----- locating -------------------------------------------------------------------------

    def _candidates(self, root: Path) -> list[Path]:
        return [root, *(root / d for d in self.alt_dirs)]

    def _staging(self, cand: Path) -> Path:
        return cache_dir() / "staged" / f"{self.name}-{path_key(cand)}"

    def _ready(self, d: Path) -> bool:
        return all((d / f).is_file() for f in self.ready_files)

    def _has_archives(self, d: Path) -> bool:
        return bool(self.archives) and all((d / f).is_file() for f in self.archives)

    def _scan(self, root: Path) -> tuple[list[Path], Optional[Path], Optional[Path]]:
        """(searched dirs, a ready dir or None, a dir holding the archives or None)."""
        searched: list[Path] = []
        archive_dir = None
        for cand in self._candidates(root):
            for d in (cand, self._staging(cand)):
                searched.append(d)
                if self._ready(d):
                    return searched, d, None
            if archive_dir is None and self._has_archives(cand):
                archive_dir = cand
        return searched, None, archive_dir

    def _writable_dest(self, folder: Path) -> Path:
        """Where files for ``folder`` may be written: itself inside the cache, else its staging copy in the cache."""
        return folder if in_cache(folder) else self._staging(folder)

    def locate(self, cfg: "DataConfig") -> Location:
        root = resolve_root(cfg)
        searched, ready, archive_dir = self._scan(root)
        notes = [f"root {root} (from {root_source(cfg)})"]
        if ready is not None:
            return Location(self.name, searched, ready, "ready", "found, ready to load", notes)
        if archive_dir is not None:
            dest = self._writable_dest(archive_dir)
            how = "in place" if dest == archive_dir else f"into the cache ({dest}): a data folder is read-only to the platform"
            return Location(self.name, searched, archive_dir, "archives", f"found archives; they will be extracted {how}", notes)
        return Location(self.name, searched, None, "missing", f"not found: no {self.expected}", notes)

    def facts(self, cfg: "DataConfig") -> DatasetFacts:
        """The published sizes and shape, known without the files (checked before a study starts)."""
        return published_facts(self.name, self.in_channels, self.image_size, cfg)

    # ----- loading --------------------------------------------------------------------------

    def load(self, cfg: "DataConfig") -> DatasetArrays:
        if cfg.image_size is not None and cfg.image_size != self.image_size:
            raise InputError(
                f"data.image_size={cfg.image_size} is only supported by the imagefolder dataset; "
                f"{self.name} images are {self.image_size}x{self.image_size} (leave data.image_size unset)"
            )
        root = resolve_root(cfg)
        searched, ready, archive_dir = self._scan(root)
        if ready is None and archive_dir is not None:
            ready = self._extract(archive_dir, self._writable_dest(archive_dir))
        if ready is None:
            ready = self._download(cfg, root, searched)
        return self._read(ready)

    def _extract(self, src: Path, dest: Path) -> Path:
        """Extract the archives of ``src`` into ``dest`` and return ``dest``.

        Everything is extracted into a temporary folder first and moved into place entry by entry, so
        an interrupted extraction never looks complete, and a concurrent one (parallel trials) is harmless.
        """
        from torchvision.datasets.utils import extract_archive

        target = dest / self.extract_into
        try:
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target, prefix=".extract-") as tmp:
                for archive in self.archives:
                    extract_archive(str(src / archive), tmp)
                if self._ready(dest):  # another process finished first
                    return dest
                for entry in Path(tmp).iterdir():
                    final = target / entry.name
                    if final.is_dir() and not final.is_symlink():
                        shutil.rmtree(final)  # leftovers of a broken earlier copy
                    os.replace(entry, final)
        except Exception as e:  # corrupt gzip/tar, disk full, permissions …
            raise DatasetNotFoundError(
                f"dataset {self.name!r}: could not extract {', '.join(self.archives)} from {src} into {dest}: "
                f"{type(e).__name__}: {e}"
            ) from e
        if not self._ready(dest):
            raise DatasetNotFoundError(
                f"extracted {', '.join(self.archives)} from {src} into {dest}, but the expected files "
                f"{', '.join(self.ready_files)} are still missing: the archives look incomplete or corrupted"
            )
        return dest

    def _no_download_reason(self, cfg: "DataConfig") -> str | None:
        """Why a download cannot happen now (None: it can be tried)."""
        if not cfg.download:
            return "data.download is false"
        if os.environ.get(OFFLINE_ENV):
            return f"download skipped because ${OFFLINE_ENV} is set"
        if not network.reachable(self.host):
            return f"download failed: no network connection to {self.host}"
        return None

    def check(self, cfg: "DataConfig") -> None:
        """Raise now what ``load`` would raise later: the dataset is missing and cannot be downloaded."""
        loc = self.locate(cfg)
        if loc.state == "missing":
            reason = self._no_download_reason(cfg)
            if reason:
                root = resolve_root(cfg)
                raise DatasetNotFoundError(self._missing_message(root, root_source(cfg), loc.searched, reason))

    def _download(self, cfg: "DataConfig", root: Path, searched: list[Path]) -> Path:
        reason = self._no_download_reason(cfg)
        if reason is None:
            dest = self._writable_dest(root)
            try:
                dest.mkdir(parents=True, exist_ok=True)
                with network.socket_timeout(network.DOWNLOAD_SOCKET_TIMEOUT_S):
                    for kwargs in self.split_kwargs:
                        self._tv(dest, download=True, **kwargs)
            except Exception as e:  # network and archive errors of any kind
                reason = f"download into {dest} failed: {type(e).__name__}: {e}"
            else:
                if self._ready(dest):
                    return dest
                reason = f"download into {dest} finished but the files are not there"
        raise DatasetNotFoundError(self._missing_message(root, root_source(cfg), searched, reason))

    def _missing_message(self, root: Path, source: str, searched: list[Path], reason: str) -> str:
        staging = self._staging(root).parent
        where = "\n".join(f"  {d}" for d in searched if staging not in d.parents)
        return (
            f"dataset {self.name!r} not found; {reason}.\n"
            f"Looked for {self.expected} (torchvision's layout) in:\n{where}\n"
            f"  and in their staged copies under {staging}\n"
            f"Fix: set data.root in the config, or the {DATA_ENV} environment variable, to the folder "
            f"that holds the {self.name} files (the root {root} came from {source}), "
            f"or run once with network access and data.download true."
        )

    @property
    def expected(self) -> str:
        """The files this dataset needs, in words."""
        dirs = sorted({str(Path(f).parent) for f in self.ready_files} - {"."})
        ready = " and ".join(f"{d}/" for d in dirs) if dirs else " and ".join(self.ready_files)
        if not self.archives:
            return ready
        archives = sorted({Path(a).name for a in self.archives})
        archives_text = archives[0] if len(archives) == 1 else f"the {len(archives)} .gz files"
        return f"{ready} (or {archives_text})"

    def _tv(self, root: Path, download: bool, **kwargs: Any) -> Any:
        import torchvision.datasets as tvd

        return getattr(tvd, self.tv_class)(str(root), download=download, **kwargs)

    def _read(self, d: Path) -> DatasetArrays:
        try:
            train, test = (self._tv(d, download=False, **kw) for kw in self.split_kwargs)
        except RuntimeError as e:
            raise DatasetNotFoundError(
                f"dataset {self.name!r}: files are present in {d} but failed to load ({e}); "
                f"they may be incomplete or corrupted: delete them and load again"
            ) from None
        (train_x, train_y), (test_x, test_y) = self._tensors(train), self._tensors(test)
        names = tuple(getattr(train, "classes", None) or self.class_names)
        return DatasetArrays(train_x, train_y, test_x, test_y, names, self.mean, self.std, d)

    def _tensors(self, ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(ds.data)
        if self.layout == "NHW":
            x = x.unsqueeze(1)
        elif self.layout == "NHWC":
            x = x.permute(0, 3, 1, 2)
        labels = getattr(ds, "targets", None)
        if labels is None:
            labels = ds.labels
        return x.contiguous().to(torch.uint8), torch.as_tensor(labels, dtype=torch.int64)
