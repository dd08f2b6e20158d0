"""``study ui``: the MLflow UI for a workspace's ledger, bound to 127.0.0.1 unless told otherwise."""
from __future__ import annotations

import subprocess
import sys
from typing import Optional

import typer
from rich.console import Console

from study.cli.commands.common import Workspace, workspace_path
from study.cli.main import app

out = Console(highlight=False)


@app.command()
def ui(
    workspace: Optional[str] = Workspace,
    port: int = typer.Option(5000, "--port", "-p", min=1, max=65535),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default loopback only)."),
) -> None:
    """Start the MLflow UI on the workspace's tracking store and print its URL (Ctrl-C stops it)."""
    from study.errors import UserError

    ws = workspace_path(workspace)
    db = ws / "mlflow.db"
    if not db.exists():
        raise UserError(f"no MLflow store in {ws} (no mlflow.db); run a study there first, or pass --workspace DIR")
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
           "--default-artifact-root", (ws / "mlartifacts").resolve().as_uri(), "--host", host, "--port", str(port)]
    out.print(f"MLflow UI for {ws}: http://{host}:{port}  (Ctrl-C to stop)")
    try:
        subprocess.run(cmd, check=False)
    except KeyboardInterrupt:
        pass
