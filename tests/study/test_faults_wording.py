"""Faults of the surroundings told apart from bugs (trainables/faults.py) and said in plain words (study/console/faults.py),
from the exceptions the stack really raises: errno-bearing OSErrors, SQLAlchemy-wrapped SQLite errors, MLflow's
message for a server that does not answer, and the same as text inside a Ray trial's error."""
from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from study.console import faults
from trainables import faults as F

MLFLOW_DOWN = ("API request to http://127.0.0.1:5123/api/2.0/mlflow/runs/log-batch failed with exception "
               "HTTPConnectionPool(host='127.0.0.1', port=5123): Max retries exceeded with url: "
               "/api/2.0/mlflow/runs/log-batch (Caused by NewConnectionError('Failed to establish a new connection: "
               "[Errno 111] Connection refused'))")


def _sql(statement: str, message: str) -> OperationalError:
    return OperationalError(statement, (1,), sqlite3.OperationalError(message))


@pytest.fixture()
def ws(tmp_path):
    (tmp_path / "ws").mkdir()
    faults.set_context(tmp_path / "ws", f"sqlite:///{tmp_path / 'ws' / 'optuna.db'}",
                       f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}")
    yield tmp_path / "ws"
    faults.set_context(None)


def _wrapped(exc: BaseException) -> BaseException:
    """As a Ray trial's error reaches the driver: the original only as text."""
    return RuntimeError(f"Traceback (most recent call last):\n  File \"x.py\", line 1\n{type(exc).__name__}: {exc}")


CASES = {
    "ENOSPC": (lambda ws: OSError(errno.ENOSPC, "No space left on device", str(ws / "ray" / "x")),
               F.DISK_FULL, ["is full", "free", "Fix: free space"]),
    "SQLite full": (lambda ws: _sql("INSERT INTO metrics (key) VALUES (?)", "database or disk is full"),
                    F.DISK_FULL, ["is full"]),
    "EROFS": (lambda ws: OSError(errno.EROFS, "Read-only file system", str(ws / "optuna.db")),
              F.READ_ONLY, ["read-only now", "make it writable again"]),
    "EFBIG": (lambda ws: OSError(errno.EFBIG, "File too large", str(ws / "a.pt")), F.FILE_LIMIT, ["ulimit -f"]),
    "stale NFS handle": (lambda ws: OSError(errno.ESTALE, "Stale file handle", str(ws)), F.STORAGE_GONE,
                         ["went away", "mount it again"]),
    "Optuna locked": (lambda ws: _sql("UPDATE trials SET state=?", "database is locked"), F.DB_LOCKED,
                      ["optuna.db is locked by another process", "STUDY_SQLITE_TIMEOUT=120", "PostgreSQL"]),
    "MLflow locked": (lambda ws: _sql("INSERT INTO metrics (key) VALUES (?)", "database is locked"), F.DB_LOCKED,
                      ["mlflow.db is locked"]),
    "MLflow server down": (lambda ws: Exception(MLFLOW_DOWN), F.SERVER_DOWN,
                           ["server at http://127.0.0.1:5123 does not answer", "start it again"]),
    "EIO": (lambda ws: OSError(errno.EIO, "Input/output error", str(ws / "a.pt")), F.IO_ERROR, ["I/O error", "dmesg"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("as_text", [False, True], ids=["raised", "inside a trial's error"])
def test_a_fault_of_the_surroundings_is_named_with_its_fix(case, as_text, ws):
    make, kind, needles = CASES[case]
    exc = make(ws)
    if as_text:
        exc = _wrapped(exc)
    assert F.environmental(exc).kind == kind
    said = str(faults.diagnose(exc))
    for needle in needles:
        assert needle in said, said


def test_an_io_error_is_said_as_what_the_workspace_shows(ws, tmp_path):
    """SQLite's 'unable to open database file' on a workspace whose folder is gone: the mount is named."""
    exc = _sql("INSERT INTO trials (x) VALUES (?)", "unable to open database file")
    ws.rmdir()
    said = str(faults.diagnose(exc))
    assert f"the storage holding {ws} went away" in said and "mount it again" in said


@pytest.mark.parametrize("exc", [ValueError("shapes do not match"), KeyError("epoch"), OSError(errno.ENOENT, "nope"),
                                 RuntimeError("CUDA error: device-side assert"), _sql("SELECT 1", "no such table: x")])
def test_a_bug_is_not_reworded_as_a_fault(exc):
    assert F.environmental(exc) is None and faults.diagnose(exc) is None
