"""``study evaluate NAME --top K``: the study's answer, the strong test reading of its K best configurations."""
from __future__ import annotations

from typing import Optional

import typer

from study.cli.commands.common import Workspace, workspace_path
from study.console.display import console
from study.cli.app import app

out = console()


@app.command("evaluate")
def evaluate(
    name: str = typer.Argument(..., help="Study name (see `study list`)."),
    top: int = typer.Option(3, "--top", "-k", min=1, help="How many configurations, best first by the search metric "
                            "on validation (a two-objective study: the first K of its Pareto set)."),
    images: Optional[int] = typer.Option(None, "--images", min=1, help="Test images to read (default: the spec's "
                                         "evaluation.answer.images, 1,000 unless set)."),
    again: bool = typer.Option(False, "--again", help="Read configurations already read with these settings anew."),
    workspace: Optional[str] = Workspace,
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="Needed if its URL had a password."),
) -> None:
    """Read the selected checkpoint of each seed of the K best configurations on the test set (clean, PGD-50x10,
    AutoAttack by default): the study's answer, recorded in Optuna, MLflow and the report."""
    from study.run import interrupt
    from study.console import hints
    from study.cli.answer_view import print_answer
    from study.results.evaluate import evaluate_answer
    from study.results.reading import open_study

    ws = workspace_path(workspace)
    handle = open_study(ws, name, optuna_storage, mlflow_uri)
    if handle.status != "finished":
        out.print(f"[yellow]note:[/] study {name} is {handle.status}: its ranking may still change", soft_wrap=True)
    interrupt.set_resume_hint(hints.command("evaluate", name, "--top", str(top), workspace=ws))
    result = evaluate_answer(handle, top, lambda line: out.print(line, markup=False, soft_wrap=True), images, again)
    interrupt.set_resume_hint(None)
    print_answer(out, result.answer)
    for note in result.notes:
        out.print(f"note: {note}", markup=False, style="yellow")
    read = f"read {len(result.evaluated)} configuration(s) in {result.seconds:.0f} s" if result.evaluated else \
        "nothing new to read"
    out.print(f"{read}; shown by `study status`, `study export` and `study report`", markup=False)
