"""``study run | resume | list | status``: launch and inspect studies."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from study.cli import rerun
from study.console import hints
from study.cli.commands.common import Workspace, finite_at_least, workspace_path
from study.console.display import console
from study.cli.app import app

out = console()
IF_EXISTS = ("error", "continue")


@app.command()
def run(
    spec_path: str = typer.Argument(..., metavar="SPEC.yaml", help="Study spec, e.g. search_spaces/quickstart.yaml."),
    name: Optional[str] = typer.Option(None, "--name", help="Study name (default: the spec's name)."),
    workspace: Optional[str] = Workspace,
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join a Ray cluster (else $RAY_ADDRESS, else local)."),
    storage_path: Optional[str] = typer.Option(None, "--storage-path", help="Ray storage: shared path or s3:// URI."),
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="SQLAlchemy URL (default sqlite in the workspace)."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="MLflow tracking URI, or 'none'."),
    num_samples: Optional[int] = typer.Option(None, "--num-samples", min=1, help="Configurations to try."),
    max_concurrent: Optional[int] = typer.Option(None, "--max-concurrent", min=1, help="Trials at once."),
    num_cpus: Optional[float] = typer.Option(None, "--num-cpus", callback=finite_at_least(0.5),
                                             help="Local Ray: logical CPUs."),
    num_gpus: Optional[float] = typer.Option(None, "--num-gpus", callback=finite_at_least(0),
                                             help="Local Ray: logical GPUs."),
    smoke: bool = typer.Option(False, "--smoke", help="2 trials x 2 epochs on a tiny subset: a wiring check."),
    if_exists: str = typer.Option("error", "--if-exists", help="When the study exists: 'error', or 'continue' "
                                  "(resume it if unfinished, show it if finished)."),
    verbose: bool = typer.Option(False, "--verbose", help="Show Ray's worker logs and library warnings."),
) -> None:
    """Launch a study: Optuna proposes, Ray Tune runs, diverging trials are stopped early."""
    from study.stores.catalog import Catalog
    from study.run.engine import prepare, run_study, smoke as shrink
    from study.errors import UserError
    from study.kinds import KINDS
    from study.run.options import resolve_options
    from study.spec.spec import load_spec

    if if_exists not in IF_EXISTS:
        raise UserError(f"--if-exists {if_exists!r} is not one of {', '.join(IF_EXISTS)}")
    spec = load_spec(spec_path)
    if smoke:
        spec = shrink(spec)
    if num_samples:
        spec.search.num_samples = num_samples
    if max_concurrent:
        spec.search.max_concurrent = max_concurrent
    opts = resolve_options(workspace, optuna_storage, mlflow_uri, storage_path, ray_address, num_cpus, num_gpus, verbose)
    study_name = name or spec.name
    _check_name(study_name)
    ws = opts.workspace
    if if_exists == "continue" and (ws / "catalog.db").exists() and Catalog.open(ws).exists(study_name):
        finished = Catalog.open(ws).get(study_name).status == "finished"
        doing = "it finished: showing it, nothing changes" if finished else "continuing it where it stopped"
        out.print(f"study [bold]{study_name}[/] exists in {ws}; {doing} (a new study needs another --name)")
        return _resume(study_name, ws, None, None, None, num_cpus, num_gpus, verbose, announce=False)
    _data_root(ws, spec, study_name)
    rerun.set_rerun(study_name, ws, [spec_path, *(["--smoke"] if smoke else [])])  # what a stop or a fault prints
    prepare(spec, study_name, opts)  # refused: nothing created, not even the log file
    _range_warnings(spec)
    _start(study_name, ws, verbose)
    out.print(f"study [bold]{study_name}[/]: {spec.search.num_samples} configuration(s) x {spec.search.seeds} seed(s), "
              f"{KINDS[spec.kind].describe(spec)}, workspace {ws}")
    from study.run import progress

    progress.mark_line()  # the heartbeat counts the quiet from this line (issue 32)
    try:
        outcome = run_study(spec, study_name, opts)
    finally:
        progress.end_opening()  # a refusal or fault before the trials ran prints without a heartbeat among it
    _end(ws, study_name, outcome)


@app.command()
def resume(
    name: str = typer.Argument(..., help="Study name (see `study list`)."),
    workspace: Optional[str] = Workspace,
    ray_address: Optional[str] = typer.Option(None, "--ray-address"),
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="Needed if its URL had a password."),
    num_cpus: Optional[float] = typer.Option(None, "--num-cpus", callback=finite_at_least(0.5)),
    num_gpus: Optional[float] = typer.Option(None, "--num-gpus", callback=finite_at_least(0)),
    verbose: bool = typer.Option(False, "--verbose"),
) -> None:
    """Continue an interrupted study; unfinished trials resume from their last checkpoint (a finished one: no change)."""
    _resume(name, workspace_path(workspace), ray_address, optuna_storage, mlflow_uri, num_cpus, num_gpus, verbose)


def _resume(name: str, ws: Path, ray_address, optuna_storage, mlflow_uri, num_cpus, num_gpus, verbose,
            announce: bool = True) -> None:
    from study.stores.catalog import Catalog
    from study.run.cluster import prepare_join, resolve_address
    from study.run.engine import resume_study
    from study.run.options import StudyOptions

    row = Catalog.open(ws).get(name)
    if row.status != "finished":
        _start(name, ws, verbose)
        rerun.set_rerun(name, ws)
        _data_root(ws, row.spec(), name)
    address = resolve_address(ray_address)
    if address:
        prepare_join(address)
    opts = StudyOptions(ws, "", None, "", address, num_cpus, num_gpus, verbose)
    outcome = resume_study(name, opts, optuna_storage, mlflow_uri)
    if announce and not outcome.resumed:
        out.print(f"study {name} already finished: nothing to resume, nothing changed")
    _end(ws, name, outcome)


def _range_warnings(spec) -> None:
    """Values outside their physical range that are legal but most likely a mistake (study.run.preflight)."""
    from study.kinds.preflight import range_warnings

    for line in range_warnings(spec):
        out.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)


def _start(name: str, ws: Path, verbose: bool) -> None:
    """Library logs and warnings into the study's log file; a Ctrl-C from here on says how to continue."""
    from study.console.logs import log_path, to_file

    path = to_file(log_path(ws, name), verbose)
    if not verbose:
        out.print(f"library logs and warnings: {hints.shown(path)}", markup=False)


def _data_root(ws: Path, spec, name: str) -> None:
    from study.run import dataroot

    root = dataroot.adopt(ws, dataroot.configured(spec), name)
    if root:
        out.print(dataroot.note(root, ws), markup=False)


def _end(ws: Path, name: str, outcome) -> None:
    from study.cli.summary import print_summary

    if outcome.fault is None:
        rerun.set_rerun(None)
    print_summary(out, ws, name, outcome)
    _failures(outcome)
    if outcome.fault is not None:  # a fault of the surroundings stopped it: one paragraph, exit code 1 (cli.main)
        from study.errors import Fault

        raise Fault(outcome.fault)
    if outcome.status == "interrupted":
        from study.run.interrupt import EXIT_CODE

        raise typer.Exit(EXIT_CODE)
    if outcome.failures.all_failed:
        raise typer.Exit(1)


def _failures(outcome) -> None:
    """One line per distinct failure cause, with the trials it hit and where the tracebacks are."""
    from rich.markup import escape

    f = outcome.failures
    if not f.failed:
        return
    head = "every trial failed" if f.all_failed else "some trials failed"
    out.print(f"\n[red]{head}[/] ({f.failed} of {f.trials}):", soft_wrap=True)
    for line in f.lines():
        out.print(f"  {escape(line)}", soft_wrap=True)
    out.print(f"full tracebacks: {outcome.log_file} and each failed trial's error.txt under "
              f"{outcome.experiment_path}/", soft_wrap=True)


@app.command("list")
def list_studies(workspace: Optional[str] = Workspace) -> None:
    """The studies of a workspace (stores shown when they are not the workspace's own files)."""
    from rich import box
    from rich.table import Table

    from study.stores.catalog import Catalog

    ws = workspace_path(workspace)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in ("name", "status", "trials", "updated (UTC)", "optuna storage", "mlflow", "data root"):
        t.add_column(col, overflow="fold")
    for r in Catalog.open(ws).all():
        t.add_row(r.name, r.status, str(r.num_trials), str(r.updated_at), _store(r.optuna_storage, ws, "optuna.db"),
                  _store(r.mlflow_uri, ws, "mlflow.db"), r.data_root or "-")
    out.print(t)


def _store(url: Optional[str], ws: Path, default_file: str) -> str:
    if not url:
        return "-"
    return "workspace" if url == f"sqlite:///{ws / default_file}" else url


@app.command()
def status(
    name: str = typer.Argument(...),
    workspace: Optional[str] = Workspace,
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One row per trial: number, state, stop reason, epochs, params, metrics (in %, s, /255: --json has raw values)."""
    from study.cli.summary import print_table
    from study.results.reading import open_study
    from study.results.status import trial_rows

    handle = open_study(workspace_path(workspace), name, optuna_storage, tracking=False)
    rows = trial_rows(handle.optuna_url, handle.optuna_study)
    if as_json:
        print(json.dumps({"study": name, "status": handle.status, "trials": [r.as_dict() for r in rows]}, indent=1))
        return
    print_table(out, name, handle.status, rows, handle.spec)


def _check_name(name: str) -> None:
    from study.errors import UserError
    from study.spec.spec import check_study_name

    try:
        check_study_name(name)
    except ValueError as e:
        raise UserError(f"--name: {e}") from None
