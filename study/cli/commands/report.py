"""``study report NAME``: one self-contained HTML report of a study (and the studies it is compared with)."""
from __future__ import annotations

from typing import List, Optional

import typer
from rich.console import Console

from study.cli.commands.common import Workspace, workspace_path
from study.cli.app import app

from dashboards.table import DEFAULT_MLFLOW_UI

out = Console(highlight=False)


@app.command("report")
def report(
    name: str = typer.Argument(..., help="Study name (see `study list`)."),
    workspace: Optional[str] = Workspace,
    out_file: Optional[str] = typer.Option(None, "--out", "-o", help="HTML file to write "
                                           "(default WORKSPACE/reports/NAME.html, or NAME_vs_OTHER.html)."),
    compare: Optional[List[str]] = typer.Option(None, "--compare", "-c", help="Another study of the workspace to "
                                                "overlay (repeat for more), e.g. the same search without DER."),
    mlflow_ui_url: str = typer.Option(DEFAULT_MLFLOW_UI, "--mlflow-ui-url", help="Base URL of the MLflow UI the "
                                      "trial links point to."),
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="Needed if its URL had a password."),
) -> None:
    """ΔE traces, PGD curves, parallel coordinates, importances, clean-vs-robust front and a trial table."""
    from pathlib import Path

    from urllib.parse import urlsplit

    from dashboards.report import build_report
    from study.errors import UserError

    ws = workspace_path(workspace)
    parts = urlsplit(mlflow_ui_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"--mlflow-ui-url {mlflow_ui_url!r} is not an http(s) URL such as {DEFAULT_MLFLOW_UI}")
    result = build_report(ws, name, tuple(compare or ()), Path(out_file) if out_file else None, mlflow_ui_url,
                          optuna_storage, mlflow_uri)
    for note in result.notes:
        out.print(f"[yellow]note:[/] {note}")
    trials = sum(len(sd.trials) for sd in result.studies)
    size = result.path.stat().st_size / 2**20
    names = ", ".join(sd.name for sd in result.studies)
    from study.console.hints import shown

    out.print(f"report of {names} ({trials} trials): {shown(result.path)} ({size:.1f} MiB)", markup=False)
