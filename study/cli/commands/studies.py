"""``study run | resume | list | status``: launch and inspect studies."""
from __future__ import annotations

import json
import sys
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from study.cli.commands.common import Workspace, finite_at_least, workspace_path
from study.cli.main import app
from study.kinds import KINDS
from trainables import records as R

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


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
    verbose: bool = typer.Option(False, "--verbose", help="Show Ray's worker logs."),
) -> None:
    """Launch a study: Optuna proposes, Ray Tune runs, diverging trials are stopped early."""
    from study.engine import run_study, smoke as shrink
    from study.options import resolve_options
    from study.spec import load_spec

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
    out.print(f"study [bold]{study_name}[/]: {spec.search.num_samples} configuration(s) x {spec.search.seeds} seed(s), "
              f"{KINDS[spec.kind].describe(spec)}, workspace {opts.workspace}")
    outcome = run_study(spec, study_name, opts)
    _summary(opts.workspace, study_name, outcome)
    _exit_if_all_failed(outcome)


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
    """Continue an interrupted study; unfinished trials resume from their last checkpoint."""
    from study.engine import resume_study
    from study.options import StudyOptions
    from study.cluster import prepare_join, resolve_address

    ws = workspace_path(workspace)
    address = resolve_address(ray_address)
    if address:
        prepare_join(address)
    opts = StudyOptions(ws, "", None, "", address, num_cpus, num_gpus, verbose)
    outcome = resume_study(name, opts, optuna_storage, mlflow_uri)
    _summary(ws, name, outcome)
    _exit_if_all_failed(outcome)


@app.command("list")
def list_studies(workspace: Optional[str] = Workspace) -> None:
    """The studies of a workspace."""
    from study.catalog import Catalog

    cat = Catalog.open(workspace_path(workspace))
    t = Table("name", "status", "trials", "created", "updated", "optuna storage", "mlflow")
    for r in cat.all():
        t.add_row(r.name, r.status, str(r.num_trials), str(r.created_at), str(r.updated_at), r.optuna_storage,
                  r.mlflow_uri or "-")
    out.print(t)


@app.command()
def status(
    name: str = typer.Argument(...),
    workspace: Optional[str] = Workspace,
    optuna_storage: Optional[str] = typer.Option(None, "--optuna-storage", help="Needed if its URL had a password."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One row per trial: number, state, stop_reason, epochs, params, metrics."""
    from study.catalog import Catalog
    from study.engine import _unmasked
    from study.status import trial_rows

    row = Catalog.open(workspace_path(workspace)).get(name)
    rows = trial_rows(_unmasked(row.optuna_storage, optuna_storage, "--optuna-storage"), row.optuna_study)
    if as_json:
        print(json.dumps({"study": name, "status": row.status, "trials": [r.as_dict() for r in rows]}, indent=1))
        return
    _table(name, row.status, rows, row.spec().search.metrics)


def _table(name, study_status, rows, metrics=(R.VAL_PGD_ACC,)) -> None:
    """Params and headline metrics as columns; `study status --json` has everything."""
    params = list(dict.fromkeys(k for r in rows for k in r.params))
    extra = () if any(m.startswith(R.GEN_PREFIX) for m in metrics) else (R.VAL_CLEAN_ACC, R.VAL_MASKING_GAP,
                                                                      R.TRAIN_DELTA_MEAN)
    shown = list(dict.fromkeys([*metrics, *extra]))
    t = Table(title=f"study {name} ({study_status})")
    for col in ("number", "state", "stop_reason", "epochs", *params, *shown):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(str(r.number), r.state, r.stop_reason or "-", str(r.epochs or "-"),
                  *(_fmt(r.params.get(p, "")) for p in params), *(_metric(r.metrics, m) for m in shown))
    out.print(t)


def _metric(metrics: dict, name: str) -> str:
    """A metric cell; a masking gap past the trial's threshold is flagged (its last epoch had val/masked = 1)."""
    text = _fmt(metrics.get(name, ""))
    if name == R.VAL_MASKING_GAP and metrics.get(R.VAL_MASKED):
        text += " MASKED"
    return text


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _check_name(name: str) -> None:
    from study.errors import UserError
    from study.spec import check_study_name

    try:
        check_study_name(name)
    except ValueError as e:
        raise UserError(f"--name: {e}") from None


def _summary(ws, name, outcome) -> None:
    import yaml

    from study.catalog import Catalog
    from study.status import trial_rows

    row = Catalog.open(ws).get(name)
    rows = trial_rows(row.optuna_storage, row.optuna_study) if "***" not in row.optuna_storage else []
    spec = row.spec()
    _table(name, row.status, rows, spec.search.metrics)
    if outcome.reconciled:
        out.print(f"[yellow]{outcome.reconciled} Optuna trial(s) left RUNNING by an earlier driver were marked FAIL[/]")
    done = [r for r in rows if r.state == "COMPLETE"]
    if done:
        from study.export import trial_config

        metric, mode = spec.search.metrics[0], spec.search.modes[0]
        best = (max if mode == "max" else min)(done, key=lambda r: r.metrics.get(metric, float("nan")))
        out.print(f"\nbest trial {best.number}: {metric} = {_fmt(best.metrics.get(metric))} with "
                  + ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()))
        cfg = trial_config(spec, best.params).model_dump(mode="json")
        changed = {k: v for k, v in cfg.items() if k in KINDS[spec.kind].varied}
        out.print("best config (the parts a study varies; `study export` writes it whole):")
        out.print(yaml.safe_dump(changed, sort_keys=False, default_flow_style=None).rstrip())
        out.print(f"export it: study export {name} --workspace {ws} --top 1")
    elif rows and not outcome.failures.all_failed:
        out.print("[yellow]no trial completed: every trial was stopped or failed (see stop_reason)[/]")
    _failures(ws, name, outcome)


def _failures(ws, name, outcome) -> None:
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


def _exit_if_all_failed(outcome) -> None:
    if outcome.failures.all_failed:
        raise typer.Exit(1)
