"""``study export NAME``: the best trials of a study as run configs for ``study train``."""
from __future__ import annotations

import sys
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from study.cli.commands.common import Workspace, workspace_path
from study.cli.main import app

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


@app.command("export")
def export(
    name: str = typer.Argument(..., help="Study name (see `study list`)."),
    workspace: Optional[str] = Workspace,
    top: Optional[int] = typer.Option(None, "--top", "-k",
                                      help="How many trials (default 3; a two-objective study: its whole Pareto set)."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m",
                                         help="Rank by this metric (default: the first search metric; a two-objective "
                                              "study without --metric exports its Pareto set)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="max or min (default: the search mode of the metric)."),
    out_dir: Optional[str] = typer.Option(None, "--out", "-o",
                                          help="Folder to write (default WORKSPACE/exports/NAME)."),
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="Needed if its URL had a password."),
) -> None:
    """Write the K best COMPLETE trials (or the Pareto set) as YAML run configs, plus summary.csv/json."""
    from pathlib import Path

    from study.export import export_study, open_study

    ws = workspace_path(workspace)
    handle = open_study(ws, name, optuna_storage, mlflow_uri)
    result = export_study(handle, Path(out_dir) if out_dir else ws / "exports" / name, top, metric, mode)
    sel = result.selection
    params = list(dict.fromkeys(k for r in result.rows for k in r["params"]))
    t = Table(title=f"study {name}: {sel.notes[0]}")
    for col in ("rank", "trial", *sel.metrics, *params, "MLflow run(s)", "config"):
        t.add_column(col, overflow="fold")
    for r in result.rows:
        t.add_row(str(r["rank"]), str(r["number"]), *(_fmt(v) for v in r["scores"]),
                  *(_fmt(r["params"].get(p)) for p in params), " ".join(r["mlflow_run_ids"]) or "-", r["config"])
    out.print(t)
    for note in result.notes[1:]:
        out.print(f"[yellow]note:[/] {note}")
    out.print(f"wrote {len(result.rows)} config(s), summary.csv and summary.json to {result.out}")
    first = result.rows[0]
    out.print(f"train one with: study train {result.out / first['config']} --name {name}-trial{first['number']}")


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
