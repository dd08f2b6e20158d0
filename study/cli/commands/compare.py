"""``study compare NAME A B``: two trials of a study side by side (``study report --compare`` compares studies)."""
from __future__ import annotations

from typing import Optional

import typer

from study.cli.commands.common import Workspace, workspace_path
from study.console.display import console, fmt, header
from study.cli.app import app

from dashboards.table import DEFAULT_MLFLOW_UI

out = console()
EPOCH_METRICS = ("val/robust_acc", "val/clean_acc", "energy/train/delta_mean")


@app.command("compare")
def compare(
    name: str = typer.Argument(..., help="Study name (see `study list`)."),
    a: int = typer.Argument(..., metavar="TRIAL", help="A trial number (as in `study status`)."),
    b: int = typer.Argument(..., metavar="TRIAL", help="Another trial number."),
    workspace: Optional[str] = Workspace,
    everything: bool = typer.Option(False, "--all", help="Also list every setting the two share."),
    out_file: Optional[str] = typer.Option(None, "--out", "-o", help="HTML page to write (default "
                                           "WORKSPACE/reports/NAME_trialA_vs_trialB.html)."),
    mlflow_ui_url: str = typer.Option(DEFAULT_MLFLOW_UI, "--mlflow-ui-url", help="Base URL of the MLflow UI."),
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="Needed if its URL had a password."),
) -> None:
    """Two trials side by side: their configs (differences first), outcomes, per-epoch curves on shared axes
    (console and an HTML page), and the MLflow link that compares their runs."""
    from pathlib import Path

    from dashboards.compare_page import write_compare_page
    from study.console.hints import shown
    from study.results.compare import compare_trials
    from study.results.export import check_out_dir
    from study.results.reading import open_study

    ws = workspace_path(workspace)
    handle = open_study(ws, name, optuna_storage, mlflow_uri)
    cmp = compare_trials(handle, a, b)
    _config_table(cmp, everything)
    _outcomes(cmp)
    _epochs(cmp)
    page = Path(out_file) if out_file else ws / "reports" / f"{name}_trial{a}_vs_trial{b}.html"
    page = check_out_dir(page.parent, "write the page into", "--out FILE.html") / page.name
    write_compare_page(cmp, page, mlflow_ui_url)
    for note in cmp.notes:
        out.print(f"note: {note}", markup=False, style="yellow")
    out.print(f"curves on shared axes: {shown(page)}", markup=False)
    url = cmp.mlflow_url(mlflow_ui_url)
    if url:
        out.print(f"MLflow compare (with `study ui {name}` running): {url}", markup=False, soft_wrap=True)


def _config_table(cmp, everything: bool) -> None:
    from rich import box
    from rich.table import Table

    t = Table(title=f"study {cmp.study}: trial {cmp.a.number} vs trial {cmp.b.number} (differences first)",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    t.add_column("setting")
    t.add_column(f"trial {cmp.a.number}", justify="right")
    t.add_column(f"trial {cmp.b.number}", justify="right")
    t.add_column("")
    for path, va, vb, differs in cmp.rows(everything):
        t.add_row(path, fmt(path, va), fmt(path, vb), "differs" if differs else "same")
    out.print(t)
    if not everything:
        out.print(f"{cmp.same_count()} other settings are the same (--all lists them)", markup=False, style="dim")


def _outcomes(cmp) -> None:
    from study.console.explain import BEST, MASKED
    from trainables.schema import records as R

    for s in (cmp.a, cmp.b):
        m = s.metrics
        parts = [s.state + (f", {s.stop}" if s.stop else ""),
                 f"{R.BEST_VAL_ROBUST} {fmt(R.BEST_VAL_ROBUST, m.get(R.BEST_VAL_ROBUST))}"
                 + (" MASKED" if m.get(R.BEST_MASKED) else ""), f"selected epoch {fmt('', m.get(R.BEST_EPOCH))}"]
        if s.answer:
            parts.append(f"test (the study's answer): {s.answer}")
        out.print(f"trial {s.number}: " + "; ".join(parts), markup=False, soft_wrap=True)
    out.print(BEST, markup=False, style="dim", soft_wrap=True)
    if any(s.metrics.get(R.BEST_MASKED) for s in (cmp.a, cmp.b)):
        out.print(MASKED, markup=False, style="dim", soft_wrap=True)


def _epochs(cmp) -> None:
    """The curves as numbers: per epoch, each metric for both trials next to each other."""
    from rich import box
    from rich.table import Table

    metrics = [m for m in EPOCH_METRICS if cmp.a.history.get(m) or cmp.b.history.get(m)]
    if not metrics:
        return
    epochs = sorted({int(e) for s in (cmp.a, cmp.b) for m in metrics for e, _ in s.history.get(m, [])})
    t = Table(title="per epoch (first seed; the page draws them)", box=box.SIMPLE_HEAD, show_edge=False,
              pad_edge=False, title_justify="left")
    t.add_column("epoch", justify="right")
    for m in metrics:
        for s in (cmp.a, cmp.b):
            t.add_column(f"trial {s.number}\n{header(m, 12)}", justify="right", no_wrap=True)
    values = {(s.number, m): dict(s.history.get(m, [])) for s in (cmp.a, cmp.b) for m in metrics}
    for e in epochs:
        t.add_row(str(e), *(fmt(m, values[(s.number, m)].get(e), False) for m in metrics for s in (cmp.a, cmp.b)))
    out.print(t)
