"""``study ui``: the MLflow UI for a workspace's ledger, bound to 127.0.0.1 unless told otherwise.

It waits until the server answers, then prints one link per study that opens on its trials (see
``study.tracking.mlflow_ui``). The server's own log lines go to the workspace's log file, not the console.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from study.cli.commands.common import Workspace, workspace_path
from study.cli.app import app

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
    from study.console.logs import log_path
    from study.errors import UserError
    from study.tracking.server import MlflowServer, free_port

    ws = workspace_path(workspace)
    db = ws / "mlflow.db"
    if not db.exists():
        raise UserError(f"no MLflow store in {ws} (no mlflow.db); run a study there first, or pass --workspace DIR")
    if port is None:
        port = free_port(host, DEFAULT_PORT)
        if port != DEFAULT_PORT:
            out.print(f"port {DEFAULT_PORT} is taken: using {port} (report links point at {DEFAULT_PORT} unless the "
                      f"report is made with --mlflow-ui-url http://127.0.0.1:{port})")
    log = log_path(ws, "mlflow-ui")
    server = MlflowServer(f"sqlite:///{db}", port=port, host=host, artifact_root=ws / "mlartifacts", log=log)
    links = study_links(ws, db, name, server.url)  # an unknown study fails here, before a server starts
    log.parent.mkdir(parents=True, exist_ok=True)
    out.print(f"starting the MLflow UI for {ws} on {server.url} (server log: {log}) ...")
    server.start()
    try:
        if not server.wait_ready(READY_TIMEOUT_S):
            raise UserError(f"the MLflow UI did not start on {server.url} (is port {port} taken? try --port); "
                            f"its log: {log}")
        out.print(f"MLflow UI ready: {server.url}  (Ctrl-C stops it)")
        for study, url in links:
            out.print(f"  {study}: {url}", markup=False)
        server.proc.wait()
    except KeyboardInterrupt:
        out.print("stopping the MLflow UI")
    finally:
        server.stop()


def study_links(ws: Path, db: Path, name: Optional[str], base: str) -> list[tuple[str, str]]:
    """(study, link to its trials) for the studies whose experiment is in this workspace's MLflow store."""
    import yaml

    from study.stores.catalog import Catalog
    from study.errors import UserError
    from study.tracking.mlflow_ui import experiment_url
    from study.spec.spec import StudySpec
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
