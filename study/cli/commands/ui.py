"""``study ui``: the MLflow UI for a workspace's ledger, bound to 127.0.0.1 unless told otherwise.

It waits until the server answers, then prints one link per study that opens on its trials (see
``study.mlflow_ui``). The server's own log lines go to the workspace's log file, not the console.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from study.cli.commands.common import Workspace, workspace_path
from study.cli.main import app

out = Console(highlight=False, soft_wrap=True)
DEFAULT_PORT = 5000  # MLflow's own default; the report's links assume it (`study report --mlflow-ui-url`)
READY_TIMEOUT_S = 180.0  # the server starts in ~6 s on an idle machine, much longer on a loaded one


@app.command()
def ui(
    name: Optional[str] = typer.Argument(None, help="Study to link to (default: every study of the workspace)."),
    workspace: Optional[str] = Workspace,
    port: Optional[int] = typer.Option(None, "--port", "-p", min=1, max=65535,
                                       help=f"Port (default {DEFAULT_PORT}, or the next free one when it is taken)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default loopback only)."),
) -> None:
    """Start the MLflow UI on the workspace's tracking store and print links to each study's trials (Ctrl-C stops it)."""
    from study.errors import UserError
    from study.logs import log_path

    ws = workspace_path(workspace)
    db = ws / "mlflow.db"
    if not db.exists():
        raise UserError(f"no MLflow store in {ws} (no mlflow.db); run a study there first, or pass --workspace DIR")
    if port is None:
        port = _free_port(host, DEFAULT_PORT)
        if port != DEFAULT_PORT:
            out.print(f"port {DEFAULT_PORT} is taken: using {port} (report links point at {DEFAULT_PORT} unless the "
                      f"report is made with --mlflow-ui-url http://127.0.0.1:{port})")
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    links = study_links(ws, db, name, base)  # an unknown study fails here, before a server starts
    log = log_path(ws, "mlflow-ui")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
           "--default-artifact-root", (ws / "mlartifacts").resolve().as_uri(), "--host", host, "--port", str(port),
           "--workers", "1"]
    out.print(f"starting the MLflow UI for {ws} on {base} (server log: {log}) ...")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner: 8 fewer processes
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # its own process group: stopped whole by _stop
        try:
            if not _wait_ready(proc, base):
                raise UserError(f"the MLflow UI did not start on {base} (is port {port} taken? try --port); "
                                f"its log: {log}")
            out.print(f"MLflow UI ready: {base}  (Ctrl-C stops it)")
            for study, url in links:
                out.print(f"  {study}: {url}", markup=False)
            proc.wait()
        except KeyboardInterrupt:
            out.print("stopping the MLflow UI")
        finally:
            _stop(proc)


def study_links(ws: Path, db: Path, name: Optional[str], base: str) -> list[tuple[str, str]]:
    """(study, link to its trials) for the studies whose experiment is in this workspace's MLflow store."""
    import yaml

    from study.catalog import Catalog
    from study.errors import UserError
    from study.mlflow_ui import experiment_url
    from study.spec import StudySpec
    from study.tracking.common import client

    rows = Catalog.open(ws).all() if (ws / "catalog.db").exists() else []
    if name is not None:
        rows = [Catalog.open(ws).get(name)]  # unknown name: the catalog's error, with the known names
    cl = client(f"sqlite:///{db}")
    links = []
    for row in rows:
        exp = cl.get_experiment_by_name(row.name)
        if exp is None:
            if name is not None:
                raise UserError(f"study {name!r} has no experiment in {db} (it was tracked elsewhere: "
                                f"{row.mlflow_uri or 'not tracked'})")
            continue
        search = StudySpec.model_validate(yaml.safe_load(row.spec_yaml)).search
        links.append((row.name, experiment_url(base, exp.experiment_id, search.metrics[0], search.modes[0])))
    return links


def _free_port(host: str, first: int) -> int:
    """``first`` if it can be bound on ``host``, else the next port that can (within 100)."""
    import socket

    for port in range(first, first + 100):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    return first  # let the server say what is wrong


def _wait_ready(proc: subprocess.Popen, base: str) -> bool:
    """Poll the server's /health until it answers, the process exits, or READY_TIMEOUT_S pass."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the server and its uvicorn workers), SIGKILL after 5 s."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
