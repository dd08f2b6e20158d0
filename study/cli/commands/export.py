"""``study export NAME``: the best trials of a study as run configs for ``study train``."""
from __future__ import annotations

from typing import Optional

import typer

from study.cli.commands.common import Workspace, workspace_path
from study.console.display import console, fmt, header
from study.cli.app import app

out = console()


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

    from rich import box
    from rich.table import Table

    from study.console import hints
    from study.console.explain import BEST, MASKED
    from study.results.export import export_study
    from study.kinds.exported import export_name
    from study.results.reading import open_study

    ws = workspace_path(workspace)
    handle = open_study(ws, name, optuna_storage, mlflow_uri)
    result = export_study(handle, Path(out_dir) if out_dir else ws / "exports" / name, top, metric, mode)
    sel = result.selection
    params = list(dict.fromkeys(k for r in result.rows for k in r["params"]))
    out.print(f"study {name}: {sel.notes[0]}", markup=False)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column("rank", justify="right", no_wrap=True)
    t.add_column("trial", justify="right", no_wrap=True)
    for key in (*sel.metrics, *params):
        t.add_column(header(key), justify="right", no_wrap=True)
    t.add_column("config", no_wrap=True)
    t.add_column("note")
    for r in result.rows:
        note = "; ".join(x for x in (r["stop"], "MASKED" if r["masked"] else "") if x)
        t.add_row(str(r["rank"]), str(r["number"]), *(fmt(m, v, False) for m, v in zip(sel.metrics, r["scores"])),
                  *(fmt(p, r["params"].get(p), False) for p in params), r["config"], note)
    out.print(t)
    if handle.spec.kind == "train":
        out.print(BEST, markup=False, style="dim", soft_wrap=True)
    if any(r["masked"] for r in result.rows):
        out.print(MASKED, markup=False, style="dim", soft_wrap=True)
    if any(r.get("answer") for r in result.rows):
        out.print("test readings of the study's answer are in each config's header and in summary.csv", markup=False)
    for note in result.notes[1:]:
        out.print(f"[yellow]note:[/] {note}")
    out.print(f"wrote {len(result.rows)} config(s), summary.csv and summary.json (with the MLflow run ids) to "
              f"{hints.shown(result.out)}", markup=False)
    first = result.rows[0]
    cmd = hints.command("train", str(hints.shown(result.out / first["config"])), workspace=ws)
    where = hints.shown(ws / "runs" / export_name(name, first["number"]))
    hints.print_steps(out, [(cmd, f"retrain trial {first['number']} as it ran, into {where} (--epochs N: longer)")],
                      "train one with")
