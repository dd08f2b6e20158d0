"""The study's log file: where library output and full tracebacks go instead of the console.

One file per study in its workspace, ``<workspace>/logs/<study>.log``. The console keeps the
platform's own lines (progress, tables, one-paragraph errors); everything a library logs or
warns, and every traceback, is appended here. ``--verbose`` (or ``--debug``) shows them too.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

LOG_DIR = "logs"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path(workspace: Path, study: str) -> Path:
    """``<workspace>/logs/<study>.log``."""
    return Path(workspace) / LOG_DIR / f"{study}.log"


def to_file(path: Path, verbose: bool = False) -> Path:
    """Send the root logger and Python warnings to ``path`` (appending); with ``verbose`` the console
    keeps seeing them too. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.absolute() for h in root.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if not verbose:
        warnings.simplefilter("default")  # shown once each, through logging (so: into the file)
        for h in root.handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setLevel(logging.CRITICAL + 1)
    return path
