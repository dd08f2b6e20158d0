"""Faults of the surroundings, told apart from bugs: a full or read-only disk, storage that went away,
a database locked by another process, a server that does not answer.

``environmental(exc)`` looks at an exception, its causes (``__cause__``, ``__context__``, the ``cause``
of Ray's wrappers) and, for errors that crossed a process boundary as text, at their message, and
returns an ``EnvFault``: the kind, the file or URL involved when the error names one, and the first
line of the error. Anything else is not a fault of the surroundings (None), so a bug is never
reworded as one. Pure Python, no imports of the stack: the trainable (``trainables.tune.trainable``) uses it to
hold a trial instead of failing it, the driver and the CLI (``study.console.faults``) to word the paragraph.
"""
from __future__ import annotations

import errno
import re
from dataclasses import asdict, dataclass
from typing import Iterator, Optional

DISK_FULL, FILE_LIMIT, READ_ONLY, STORAGE_GONE, IO_ERROR, DB_LOCKED, SERVER_DOWN = (
    "disk_full", "file_limit", "read_only", "storage_gone", "io_error", "db_locked", "server_down")
KINDS = (DISK_FULL, FILE_LIMIT, READ_ONLY, STORAGE_GONE, IO_ERROR, DB_LOCKED, SERVER_DOWN)

_ERRNO = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EFBIG: FILE_LIMIT, errno.EROFS: READ_ONLY,
          errno.ESTALE: STORAGE_GONE, errno.ENOTCONN: STORAGE_GONE, errno.ENODEV: STORAGE_GONE, errno.EIO: IO_ERROR}
# what the same errors say once they are text (a Ray worker's traceback, SQLite's and MLflow's own words)
_TEXT = (
    (re.compile(r"No space left on device|database or disk is full|Disk quota exceeded"), DISK_FULL),
    (re.compile(r"File too large"), FILE_LIMIT),
    (re.compile(r"Read-only file system|attempt to write a readonly database"), READ_ONLY),
    (re.compile(r"Stale file handle|Transport endpoint is not connected"), STORAGE_GONE),
    # SQLite cannot create its journal beside a database on a disk that turned read-only or went away, or the
    # disk failed under it: which of these, the driver tells from the workspace (study.console.faults)
    (re.compile(r"unable to open database file|disk I/O error|Input/output error"), IO_ERROR),
    (re.compile(r"database is locked"), DB_LOCKED),
    (re.compile(r"API request to \S+ failed with exception .*(Max retries exceeded|Connection refused|"
                r"Failed to establish a new connection|Read timed out|RemoteDisconnected)", re.S), SERVER_DOWN),
    (re.compile(r"connection to server at .* failed: Connection refused|server closed the connection unexpectedly"),
     SERVER_DOWN),
)
_URL = re.compile(r"API request to (https?://[^/\s]+)")
_HOST = re.compile(r"host='([^']+)', port=(\d+)")
_SQL = re.compile(r"\[SQL: ([^\]\n]{1,200})")
_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\][^\n]*?'([^'\n]+)'")


@dataclass(frozen=True)
class EnvFault:
    """A fault of the surroundings: ``kind`` (one of ``KINDS``), the file or URL involved (if known), and the
    error's first line."""

    kind: str
    where: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EnvFault":
        return cls(str(d.get("kind", "")), str(d.get("where", "")), str(d.get("detail", "")))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[0] if lines else "")[:300]


def environmental(exc: BaseException) -> Optional[EnvFault]:
    """The fault of the surroundings behind ``exc``, or None when it is not one (see the module docstring)."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _ERRNO:
            where = e.filename if isinstance(e.filename, str) else ""
            return EnvFault(_ERRNO[e.errno], where, _first_line(f"{type(e).__name__}: {e}"))
    for e in _chain(exc):
        text = str(e)
        for pattern, kind in _TEXT:
            m = pattern.search(text)
            if m:
                return EnvFault(kind, _where(kind, text), _line_of(text, m.start()))
    return None


def _line_of(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:end if end >= 0 else None].strip()[:300]


def _where(kind: str, text: str) -> str:
    if kind in (DB_LOCKED, IO_ERROR):  # the statement names the tables, and so the store (study.console.faults)
        m = _SQL.search(text)
        return m.group(1).strip() if m else ""
    if kind == SERVER_DOWN:
        m = _URL.search(text) or _HOST.search(text)
        if m is None:
            return ""
        return m.group(1) if m.re is _URL else f"{m.group(1)}:{m.group(2)}"
    m = _ERRNO_TEXT.search(text)
    return m.group(2) if m else ""
