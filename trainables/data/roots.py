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
    from trainables.config import DataConfig

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


def path_key(path: Path) -> str:
    """A short stable key for an absolute path, used to name cache entries."""
    return hashlib.sha1(str(Path(path).absolute()).encode()).hexdigest()[:12]


def is_writable(path: Path) -> bool:
    """True when ``path`` (or, if it does not exist yet, its nearest existing parent) may be written.

    A folder without any write permission bit counts as read-only even for root, who could write
    anyway: a shared, read-only data dir must never be modified in place.
    """
    p = Path(path).absolute()
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    if not p.is_dir():
        return False
    return bool(p.stat().st_mode & 0o222) and os.access(p, os.W_OK | os.X_OK)
