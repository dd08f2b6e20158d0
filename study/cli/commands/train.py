"""``study train CONFIG.yaml``: one training run on this machine, no Ray, no MLflow."""
from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from study.cli.commands.common import Workspace, workspace_path
from study.console.display import console, fmt
from study.cli.app import app

out = console()


def load_run_config(path: str):
    """A run config YAML (a bare RunConfig, or a study spec's ``run`` block) as a validated RunConfig."""
    from study.spec.yamlio import load_model
    from trainables.schema.config import RunConfig

    def run_block(raw: dict) -> dict:
        return raw["run"] if isinstance(raw.get("run"), dict) else raw

    return load_model(path, RunConfig, "config file", "run settings: data, model, method, ...", run_block)


@app.command()
def train(
    config: str = typer.Argument(..., metavar="CONFIG.yaml", help="A run config (or an exported trial config)."),
    workspace: Optional[str] = Workspace,
    name: Optional[str] = typer.Option(None, "--name", help="Run folder name (default: the config's name)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Override the number of epochs."),
) -> None:
    """Train one run locally: a line per epoch, records in WORKSPACE/runs/NAME/records.jsonl, checkpoints beside."""
    from study.run import dataroot
    from study.console.hints import shown
    from study.cli.train_summary import best_checkpoint_line, final_lines
    from trainables.schema import records as R
    from trainables.training.fit import fit

    from trainables.training.preflight import check_run
    from trainables.schema.ranges import config_findings, data_findings, warnings_of

    cfg = load_run_config(config)
    if epochs:
        cfg = cfg.model_copy(update={"epochs": epochs})
    facts = check_run(cfg)  # the study pre-flight's data checks: sizes, classes, the model's input shape (exit 2)
    for line in warnings_of(config_findings(cfg) + data_findings(cfg, facts)):  # legal, most likely not meant
        out.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    ws = workspace_path(workspace)
    root = dataroot.adopt(ws, cfg.data.root)
    if root:
        out.print(dataroot.note(root, ws), markup=False)
    run_dir = ws / "runs" / (name or cfg.name)
    out.print(f"training [bold]{cfg.name}[/]: {cfg.method.name} ε = {fmt('epsilon', cfg.method.epsilon)}, "
              f"DER weight {fmt('', cfg.der.weight)}, on {cfg.data.name} with {cfg.model.name}, {cfg.epochs} epochs "
              f"-> {shown(run_dir)}")

    def line(rec: R.EpochRecord):
        m = rec.metrics
        parts = [f"epoch {rec.epoch:>3}/{cfg.epochs}", f"loss {m[R.LOSS_TOTAL]:.3f}",
                 f"train adv {fmt(R.TRAIN_ADV_ACC, m[R.TRAIN_ADV_ACC])}"]
        for k, lab in ((R.VAL_CLEAN_ACC, "val clean"), (R.VAL_PGD_ACC, "val pgd"), (R.VAL_ROBUST_ACC, "val robust"),
                       (R.VAL_MASKING_GAP, "masking gap"), (R.PROBE_PGD_ACC, "probe"),
                       (R.TRAIN_DELTA_MEAN, "ΔE"), (R.TIME_EPOCH, "time")):
            if k in m:
                parts.append(f"{lab} {fmt(k, m[k])}")
        out.print("  ".join(parts))

    result = fit(cfg, run_dir, callbacks=[line])
    if result.stop_reason:
        out.print(f"[yellow]stopped: {result.stop_reason}[/]")
    best = best_checkpoint_line(result.records, cfg.epochs)
    if best:
        out.print(best, markup=False, soft_wrap=True)
    for text in final_lines(result.final):
        out.print(text, markup=False, soft_wrap=True)
    out.print(f"records: {shown(run_dir / 'records.jsonl')}")
