"""The study's log file: where library output and full tracebacks go instead of the console.

One file per study in its workspace, ``<workspace>/logs/<study>.log``. The console keeps the
platform's own lines (progress, tables, one-paragraph errors); everything a library logs or
warns, and every traceback (Ray's "Trial task failed" walls included), is appended here.
``--verbose`` (or ``--debug``) shows them too. A command that has no study (``study list`` …)
writes the traceback of an unexpected error to ``cli_log()`` in the user's cache instead.

Libraries that give their loggers their own console handler (Ray's ``ray`` logger, MLflow's
``mlflow`` logger) are followed too, also when they configure it after ``to_file`` (Ray does at
import and in ``ray.init``: call ``follow_libraries`` then); ``library_output`` catches what a
library prints straight to stderr (MLflow's "Successfully registered model ...").
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, Optional

LOG_DIR = "logs"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SILENT = logging.CRITICAL + 1
_active: Optional[tuple[logging.FileHandler, bool]] = None  # (the file handler, verbose) of the last to_file


def log_path(workspace: Path, study: str) -> Path:
    """``<workspace>/logs/<study>.log``."""
    return Path(workspace) / LOG_DIR / f"{study}.log"


def to_file(path: Path, verbose: bool = False) -> Path:
    """Send the root logger, the libraries' own loggers and Python warnings to ``path`` (appending); with
    ``verbose`` the console keeps seeing them too. Returns ``path``.

    One log file is active per process: calling it again moves the file handler to the new path.
    """
    global _active
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_study_log", False) and Path(h.baseFilename) != path]:
        _detach(old)
    handler = next((h for h in root.handlers if getattr(h, "_study_log", False)), None)
    if handler is None:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._study_log = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    # a log file that cannot be written any more (a full or read-only disk) must not put logging's own
    # "--- Logging error ---" tracebacks on the console: the fault is reported once, in the platform's words
    logging.raiseExceptions = False
    if not verbose:
        warnings.simplefilter("default")  # shown once each, through logging (so: into the file)
        warnings.simplefilter("ignore", ResourceWarning)  # as Python's default: at exit, logging is closed
        for h in root.handlers:
            if _is_console(h):
                h.setLevel(_SILENT)
    _active = (handler, verbose)
    follow_libraries()
    return path


def _detach(handler: logging.FileHandler) -> None:
    """Remove a previous command's file handler from every logger that holds it."""
    for logger in [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                          if isinstance(lg, logging.Logger))]:
        if handler in logger.handlers:
            logger.removeHandler(handler)
    handler.close()


def _is_console(h: logging.Handler) -> bool:
    return isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)


def follow_libraries() -> None:
    """Route loggers that carry their own console handler into the file of the last ``to_file``.

    A logger that does not propagate gets the file handler; without ``verbose`` its console
    handlers (and those of propagating ones) are silenced. A no-op before ``to_file``.
    """
    if _active is None:
        return
    handler, verbose = _active
    for logger in [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]:
        consoles = [h for h in logger.handlers if _is_console(h)]
        if not consoles:
            continue
        if not logger.propagate and handler not in logger.handlers:
            logger.addHandler(handler)
        if not verbose:
            for h in consoles:
                h.setLevel(_SILENT)


@contextlib.contextmanager
def library_output() -> Iterator[None]:
    """Within the block, what code prints to stdout/stderr goes to the log file (unless verbose, or
    no ``to_file`` yet): for library calls that print instead of logging."""
    if _active is None or _active[1]:
        yield
        return
    with open(_active[0].baseFilename, "a", encoding="utf-8") as f, \
            contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        yield
        sys.stdout.flush()


def active() -> Optional[Path]:
    """The log file ``to_file`` set up for the current command, if any."""
    return Path(_active[0].baseFilename) if _active is not None else None


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
