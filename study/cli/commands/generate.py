"""``study generate``: class-conditional samples from a trained robust classifier (method.md §8).

From a checkpoint file/directory, or from an MLflow trial run (its ``checkpoint_path`` tag), it
writes per-class grids and ``metrics.json``; with ``--run`` the metrics (``gen/fid`` …) and the
files are logged back to that run.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from study.cli.commands.common import Workspace, workspace_path
from study.cli.app import app
from trainables.schema import records as R

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
CHECKPOINT_TAG = "checkpoint_path"
ARTIFACT_DIR = "generation"


def load_gen_config(path: Optional[str]):
    """A generation config YAML (or the defaults) as a validated GenerationConfig; bad input is a UserError."""
    from study.spec.yamlio import load_model
    from trainables.generation import GenerationConfig

    if path is None:
        return GenerationConfig()
    return load_model(path, GenerationConfig, "generation config", "init, sampler, metrics, grid, n, ...")


def _tracking_uri(ws: Path, mlflow_uri: Optional[str]) -> str:
    from study.errors import UserError
    from study.run.options import check_mlflow_uri

    if mlflow_uri:
        return check_mlflow_uri(mlflow_uri)
    db = ws / "mlflow.db"
    if not db.is_file():
        raise UserError(f"no MLflow database at {db}; pass --workspace DIR (the folder of `study run`) or "
                        f"--mlflow-uri URI")
    return f"sqlite:///{db}"


def _run_checkpoint(cl, run_id: str) -> str:
    """The checkpoint directory recorded on an MLflow trial run."""
    from mlflow.exceptions import MlflowException

    from study.errors import UserError

    try:
        run = cl.get_run(run_id)
    except MlflowException as e:
        raise UserError(f"MLflow run {run_id!r} not found ({str(e).splitlines()[0][:200]})") from None
    path = run.data.tags.get(CHECKPOINT_TAG)
    if not path:
        raise UserError(f"MLflow run {run_id} has no {CHECKPOINT_TAG!r} tag: pass a trial's (child) run that "
                        f"finished with a checkpoint, or use --checkpoint PATH")
    if "://" in path:
        raise UserError(f"run {run_id}'s checkpoint is remote ({path}); copy it locally and use --checkpoint PATH")
    return path


def _log_back(cl, run_id: str, result, out_dir: Path) -> None:
    from study.tracking.common import log_metrics

    log_metrics(cl, run_id, result.flat_metrics(R.GEN_PREFIX), step=0)
    if result.metrics.get("notes"):
        cl.set_tag(run_id, "gen.notes", "; ".join(result.metrics["notes"])[:5000])
    cl.log_artifacts(run_id, str(out_dir), artifact_path=ARTIFACT_DIR)


@app.command()
def generate(
    checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="best.pt / state.pt, or a directory holding one."),
    run_id: Optional[str] = typer.Option(None, "--run", help="MLflow trial run id: its checkpoint_path tag is used and "
                                         "the results are logged back to it."),
    n: Optional[int] = typer.Option(None, "--n", min=1, help="Samples in all (default: the config's, 10,000)."),
    out_dir: Optional[str] = typer.Option(None, "--out", help="Output folder (default WORKSPACE/generation/<name>)."),
    config: Optional[str] = typer.Option(None, "--config", metavar="GEN.yaml", help="Generation config (init, sampler, "
                                         "metrics, grid); defaults: method.md §8."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Local Inception weights file for FID/KID/IS."),
    workspace: Optional[str] = Workspace,
    mlflow_uri: Optional[str] = typer.Option(None, "--mlflow-uri", help="With --run (default: the workspace's mlflow.db)."),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="Where the classifier's dataset is, if not where "
                                            "its run config says."),
) -> None:
    """Sample each class from a robust classifier: per-class PNG grids and metrics.json (FID/KID/IS)."""
    from study.errors import UserError
    from study.tracking.common import client
    from trainables.generation import generate as run_generation
    from trainables.generation.run import load_for_generation
    from trainables.generation import with_overrides

    if (checkpoint is None) == (run_id is None):
        raise UserError("pass exactly one of --checkpoint PATH and --run RUN_ID")
    gcfg = load_gen_config(config)
    over: dict[str, Any] = {}
    if n:
        over["n"] = n
    if weights:
        over["metrics.weights_path"] = weights
    gcfg = with_overrides(gcfg, over) if over else gcfg
    ws = workspace_path(workspace)
    cl = None
    if run_id is not None:
        cl = client(_tracking_uri(ws, mlflow_uri))
        checkpoint = _run_checkpoint(cl, run_id)
    model, data, run_cfg, path = load_for_generation(checkpoint, data_root)
    dest = Path(out_dir) if out_dir else ws / "generation" / (run_id or run_cfg.name)
    s = gcfg.sampler
    out.print(f"generating {gcfg.n} samples of {data.name} ({data.num_classes} classes) from {path}: init "
              f"{gcfg.init.name}, {s.steps} SGLD steps, η={s.step_size}, guidance {'on' if s.guidance else 'off'}, "
              f"adaptive stop {'on' if s.adaptive_stop else 'off'} -> {dest}")
    result = run_generation(model, data, gcfg, dest)
    summary = result.summary()
    for k in ("fid", "kid_mean", "kid_std", "isc_mean", "isc_std"):
        if k in result.metrics:
            out.print(f"{k} {result.metrics[k]:.4f}")
    for note in result.metrics.get("notes", []):
        out.print(f"note: {note}")
    out.print(f"SGLD: mean steps {summary['sgld']['mean_steps']:.1f}, frozen {summary['sgld']['frozen_fraction']:.2f}; "
              f"{result.timing['total_s']:.1f} s")
    out.print(f"grids: {len(result.grids)} PNG in {dest}; metrics: {dest / 'metrics.json'}")
    if cl is not None:
        _log_back(cl, run_id, result, dest)
        out.print(f"logged to MLflow run {run_id} ({R.GEN_PREFIX}* metrics, artifacts under {ARTIFACT_DIR}/)")
