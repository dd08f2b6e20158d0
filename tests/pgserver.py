"""A throwaway PostgreSQL server on 127.0.0.1 for tests (Debian's postgresql binaries).

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user.
Password authentication (scram) is on for TCP, so URLs carry a real password.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from study.tracking.server import free_port

PASSWORD = "s3cret-pw-42"
USER = "study"


def _bin(name: str) -> str | None:
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else shutil.which(name)


def _missing(msg: str):
    if os.environ.get("STUDY_REQUIRE_POSTGRES") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@contextmanager
def postgres_server(databases=("optuna", "mlflow")):
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        _missing("PostgreSQL server binaries not found (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="pg-"))
    base.chmod(0o755)
    data, sock, pwfile = base / "data", base / "sock", base / "pw"
    sock.mkdir()
    pwfile.write_text(PASSWORD + "\n")
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        shutil.chown(pwfile, "postgres")
    port = free_port()
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8"],
                       check=True, capture_output=True, text=True)
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c max_connections=200"
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                       check=True, capture_output=True, text=True)
        psql = _bin("psql")
        sql = [f"CREATE USER {USER} PASSWORD '{PASSWORD}';"] + [f"CREATE DATABASE {d} OWNER {USER};" for d in databases]
        for stmt in sql:
            subprocess.run([*run_as, psql, "-h", str(sock), "-p", str(port), "-U", "postgres", "-c", stmt],
                           check=True, capture_output=True, text=True)
        yield {db: f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{port}/{db}" for db in databases}
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)
