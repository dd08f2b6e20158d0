"""Faults of the surroundings in plain words: what failed, where, and the fix (``trainables.faults`` tells
them apart from bugs).

A study meets them as exceptions in the driver (Optuna's SQLite locked by another process, the workspace
remounted read-only, the disk full under Ray's experiment state) or as a trial held by one
(``trainables.tune.trainable._hold``, stopped by ``study.run.faultwatch``). Either way the user gets one paragraph
(``paragraph``), then what was kept and the command that continues (``study.cli.main``), exit code 1.
The stores a study writes are named in it from ``context``, which the engine fills when a study starts.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from study.errors import Fault
from trainables import faults as F

SQLITE_TIMEOUT_ENV = "STUDY_SQLITE_TIMEOUT"
DEFAULT_SQLITE_TIMEOUT_S = 30.0


MIN_FREE_ENV = "STUDY_MIN_FREE_MB"
DEFAULT_MIN_FREE_MB = 100.0


@dataclass
class Context:
    """Where the study in progress keeps things (for naming them in a paragraph, and for ``health``)."""

    workspace: Optional[Path] = None
    optuna: str = ""
    mlflow: str = ""
    storage: Optional[Path] = None  # Ray's storage path when it is a local folder


context = Context()


def set_context(workspace: Optional[Path], optuna: str = "", mlflow: Optional[str] = "",
                storage: Optional[str] = None) -> None:
    from study.stores.urls import mask

    context.workspace = Path(workspace) if workspace else None
    context.optuna, context.mlflow = mask(optuna or ""), mask(mlflow or "")
    context.storage = Path(storage) if storage and "://" not in storage else None


def min_free_bytes() -> int:
    """The free space a running study keeps on the disks of its workspace and storage: ``$STUDY_MIN_FREE_MB``
    (100 MB unless set)."""
    try:
        mb = float(os.environ.get(MIN_FREE_ENV, "") or DEFAULT_MIN_FREE_MB)
    except ValueError:
        mb = DEFAULT_MIN_FREE_MB
    return int(max(0.0, mb) * 2**20)


def health() -> Optional[F.EnvFault]:
    """What is wrong now with the folders a running study writes (None: nothing): gone, less free space than
    ``min_free_bytes``, or not writable (a probe file; a kernel's emergency read-only shows only this way).
    The driver asks every few seconds (``study.run.faultwatch``), so a study stops before Ray, SQLite or MLflow
    meet the fault themselves: on a disk filled to the last byte they can leave half-written files of their
    own behind (Ray's trial state), which a stop with room to spare never does."""
    import tempfile

    folders = dict.fromkeys(p for p in (context.workspace, context.storage) if p is not None)
    for folder in folders:
        if not folder.is_dir():
            return F.EnvFault(F.STORAGE_GONE, str(folder), f"the folder {folder} is gone")
        try:
            free = shutil.disk_usage(folder).free
        except OSError as e:
            return F.environmental(e) or F.EnvFault(F.IO_ERROR, str(folder), str(e))
        if free < min_free_bytes():
            return F.EnvFault(F.DISK_FULL, str(folder), f"less than the {_mb(min_free_bytes())} a running study keeps "
                                                        f"free ({MIN_FREE_ENV})")
        try:
            with tempfile.TemporaryFile(dir=folder, prefix=".study-probe-"):
                pass
        except OSError as e:
            return F.environmental(e) or F.EnvFault(F.IO_ERROR, str(folder), f"{type(e).__name__}: {e}")
    return None


def sqlite_timeout_s() -> float:
    """How long a SQLite store waits for another process's lock: ``$STUDY_SQLITE_TIMEOUT`` or 30 s (SQLite: 5 s)."""
    try:
        value = float(os.environ.get(SQLITE_TIMEOUT_ENV, "") or DEFAULT_SQLITE_TIMEOUT_S)
    except ValueError:
        return DEFAULT_SQLITE_TIMEOUT_S
    return value if value > 0 else DEFAULT_SQLITE_TIMEOUT_S


def diagnose(exc: BaseException) -> Optional[Fault]:
    """A ``Fault`` with its paragraph when ``exc`` is a fault of the surroundings, else None."""
    if isinstance(exc, Fault):
        return exc
    env = F.environmental(exc)
    return Fault(paragraph(env)) if env is not None else None


def _read_only(path: Path) -> bool:
    """Whether ``path`` cannot be written because its file system is read-only (a probe file: the mount flags do
    not show a kernel's emergency read-only)."""
    import errno
    import tempfile

    probe = _existing(path)
    if probe is None:
        return False
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".study-probe-"):
            return False
    except OSError as e:
        return e.errno == errno.EROFS


def _refine(env: F.EnvFault) -> F.EnvFault:
    """An I/O error (SQLite's "unable to open database file", EIO) said as what the workspace shows now: a
    read-only file system, a folder gone, or a failing disk."""
    if env.kind != F.IO_ERROR or context.workspace is None:
        return env
    ws = context.workspace
    if not ws.is_dir():
        return F.EnvFault(F.STORAGE_GONE, str(ws), env.detail)
    if _read_only(ws):
        return F.EnvFault(F.READ_ONLY, str(ws), env.detail)
    return env


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n < 10 * 2**30 else f"{n / 2**30:.1f} GB"


def _existing(path: Path) -> Optional[Path]:
    p = path
    while not p.exists():
        if p.parent == p:
            return None
        p = p.parent
    return p


def _disk(where: str) -> tuple[str, str]:
    """(the place to name, '12.0 MB free' or '') for a path the error named, else the workspace."""
    target = Path(where) if where and where.startswith("/") else context.workspace
    if target is None:
        return "the study's files", ""
    probe = _existing(target)
    if probe is None:
        return str(target), ""
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return str(target), ""
    return str(target), f"{_mb(free)} free"


_TABLES = (("optuna.db", r"\b(trials|trial_\w+|studies|study_\w+|version_info)\b"),
           ("mlflow.db", r"\b(runs|metrics|latest_metrics|params|tags|experiments|experiment_tags)\b"))


def _database(detail: str) -> str:
    """Which SQLite store of the study a 'database is locked' came from (by the tables its statement names)."""
    for name, tables in _TABLES:
        if re.search(tables, detail):
            if name == "optuna.db" and context.optuna.startswith("sqlite:"):
                return context.optuna.split("sqlite:///", 1)[-1]
            if name == "mlflow.db" and context.mlflow.startswith("sqlite:"):
                return context.mlflow.split("sqlite:///", 1)[-1]
            if context.workspace is not None:
                return str(context.workspace / name)
    if context.optuna.startswith("sqlite:"):
        return f"a SQLite database of the study (Optuna's is {context.optuna.split('sqlite:///', 1)[-1]})"
    return "a SQLite database of the study"


def paragraph(env: F.EnvFault) -> str:
    """The fault and its fix, in one paragraph (without what was kept: the caller knows that)."""
    env = _refine(env)
    detail = env.detail.rstrip(".")
    if env.kind == F.DISK_FULL:
        where, free = _disk(env.where)
        return (f"the disk holding {where} is full{f' ({free})' if free else ''}: {detail}. Fix: free space on that "
                f"disk, or move the study's files to a bigger one (--workspace, --storage-path, --mlflow-uri)")
    if env.kind == F.FILE_LIMIT:
        where = env.where or "the study's files"
        return (f"a file under {where} reached this shell's file-size limit (`ulimit -f` is "
                f"{_fsize_limit()}): {detail}. Fix: raise the limit (`ulimit -f unlimited`) in the shell that runs "
                f"the command")
    if env.kind == F.READ_ONLY:
        where = env.where or (str(context.workspace) if context.workspace else "the study's files")
        return (f"{where} is on a file system that is read-only now: {detail}. Fix: make it writable again (e.g. "
                f"remount it read-write), or give the study a writable --workspace")
    if env.kind == F.STORAGE_GONE:
        where = env.where or (str(context.workspace) if context.workspace else "the study's files")
        return (f"the storage holding {where} went away (its mount is gone or stale): {detail}. Fix: mount it again at "
                f"the same path")
    if env.kind == F.IO_ERROR:
        where = _database(env.where) if env.where else (str(context.workspace) if context.workspace
                                                          else "the study's files")
        return (f"reading or writing {where} failed with an I/O error: {detail}. Fix: check the disk or share that "
                f"holds it (the kernel log, `dmesg`, says more), and that it is mounted and writable")
    if env.kind == F.DB_LOCKED:
        return (f"{_database(env.where + ' ' + detail)} is locked by another process for longer than this command waits "
                f"({sqlite_timeout_s():.0f} s): {detail}. Fix: end or close what holds it (a database browser, "
                f"another program writing to it), or wait longer with {SQLITE_TIMEOUT_ENV}=120; stores shared by "
                f"several processes for long belong on PostgreSQL (--optuna-storage postgresql+psycopg://...)")
    if env.kind == F.SERVER_DOWN:
        where = env.where or context.mlflow or "the tracking server"
        return (f"the server at {where} does not answer (it stopped, or the network to it is down): {detail}. "
                f"Fix: start it again with the same stores (for MLflow: the same --backend-store-uri and "
                f"--artifacts-destination) and check that this machine reaches it")
    return detail


def _fsize_limit() -> str:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, OSError, ValueError):
        return "set"
    return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KB"
