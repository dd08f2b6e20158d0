"""The study's log file: where library output and full tracebacks go instead of the console.

One file per study in its workspace, ``<workspace>/logs/<study>.log``. The console keeps the
platform's own lines (progress, tables, one-paragraph errors); everything a library logs or
warns, and every traceback (Ray's "Trial task failed" walls included), is appended here.
``--verbose`` (or ``--debug``) shows them too. A command that has no study (``study list`` …)
writes the traceback of an unexpected error to ``cli_log()`` in the user's cache instead.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Optional

LOG_DIR = "logs"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose logger keeps its own console handler instead of propagating to the root logger.
OWN_HANDLER_LOGGERS = ("ray",)
_active: Optional[Path] = None


def log_path(workspace: Path, study: str) -> Path:
    """``<workspace>/logs/<study>.log``."""
    return Path(workspace) / LOG_DIR / f"{study}.log"


def to_file(path: Path, verbose: bool = False) -> Path:
    """Send the root logger, the non-propagating library loggers (Ray's) and Python warnings to ``path``
    (appending); with ``verbose`` the console keeps seeing them too. Returns ``path``.

    One log file is active per process: calling it again moves the file handler to the new path.
    """
    global _active
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for logger in (root, *map(logging.getLogger, OWN_HANDLER_LOGGERS)):
        _route(logger, path, verbose)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if not verbose:
        warnings.simplefilter("default")  # shown once each, through logging (so: into the file)
    _active = path
    return path


def _route(logger: logging.Logger, path: Path, verbose: bool) -> None:
    for h in list(logger.handlers):
        if getattr(h, "_study_log", False) and Path(h.baseFilename) != path:
            logger.removeHandler(h)
            h.close()
    if not any(getattr(h, "_study_log", False) for h in logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._study_log = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    if not verbose:
        for h in logger.handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setLevel(logging.CRITICAL + 1)


def active() -> Optional[Path]:
    """The log file ``to_file`` set up for the current command, if any."""
    return _active


def new_command() -> None:
    """A command starts without a log file of its own (``main`` may run several in one process, as tests do)."""
    global _active
    _active = None


def cli_log() -> Path:
    """Where a command without a study log writes an unexpected error: ``<cache>/logs/study.log``."""
    try:
        from trainables.data.roots import cache_dir

        base = cache_dir()
    except Exception:  # noqa: BLE001  (the crash being reported may be this very import)
        base = Path(os.environ.get("STUDY_CACHE_DIR") or tempfile.gettempdir())
    return base / LOG_DIR / "study.log"
