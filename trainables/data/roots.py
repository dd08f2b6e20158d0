"""Where data lives: the user's data root and the cache that holds staged and decoded copies.

Order for the data root: ``data.root`` in the config, else ``$STUDY_DATA_DIR``, else
``<cache>/data``. The cache is ``$STUDY_CACHE_DIR``, else the platform's user cache dir.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainables.schema.config import DataConfig

DATA_ENV = "STUDY_DATA_DIR"
CACHE_ENV = "STUDY_CACHE_DIR"


def cache_dir() -> Path:
    """The writable cache: ``$STUDY_CACHE_DIR`` else ``platformdirs.user_cache_dir("der-study")``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("der-study")).absolute()


def resolve_root(cfg: "DataConfig") -> Path:
    """The data root of ``cfg``: ``cfg.root``, else ``$STUDY_DATA_DIR``, else ``cache_dir()/"data"``."""
    if cfg.root:
        return Path(cfg.root).expanduser().absolute()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return cache_dir() / "data"


def root_source(cfg: "DataConfig") -> str:
    """Which setting chose the root (for messages): ``data.root``, ``$STUDY_DATA_DIR`` or the cache default."""
    if cfg.root:
        return "data.root"
    if os.environ.get(DATA_ENV):
        return f"${DATA_ENV}"
    return "default (no data.root, no $STUDY_DATA_DIR)"


def in_cache(path: Path) -> bool:
    """True when ``path`` lies inside ``cache_dir()``: the only place the platform writes data files.

    A user's data folder (``data.root``, ``$STUDY_DATA_DIR``) is only ever read; what must be
    unpacked or downloaded for it goes to a staging folder in the cache.
    """
    cache = cache_dir()
    p = Path(path).expanduser().absolute()
    return p == cache or cache in p.parents


def path_key(path: Path) -> str:
    """A short stable key for an absolute path, used to name cache entries."""
    return hashlib.sha1(str(Path(path).absolute()).encode()).hexdigest()[:12]
