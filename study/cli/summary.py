"""What ``study run``, ``resume`` and ``status`` print about a study: its trial table, the best trial,
and the next commands (spelled to work when pasted into a fresh shell, see ``study.cli.hints``)."""
from __future__ import annotations

from pathlib import Path

from study.cli import hints
from study.cli.display import fmt, shown_metrics, table_notes, trial_table
from study.kinds import KINDS
from trainables import records as R


def print_table(console, name: str, status: str, rows, spec) -> None:
    generation = any(m.startswith(R.GEN_PREFIX) for m in spec.search.metrics)
    metrics = shown_metrics(spec.search.metrics, generation)
    console.print(trial_table(f"study {name} ({status})", rows, metrics))
    for note in table_notes(rows, metrics):
        console.print(note, markup=False, style="dim")


def load(ws: Path, name: str):
    """(catalog row, spec, trial rows) of a study; no rows when its Optuna URL needs a password again."""
    from study.catalog import Catalog
    from study.status import trial_rows

    row = Catalog.open(ws).get(name)
    rows = trial_rows(row.optuna_storage, row.optuna_study) if "***" not in row.optuna_storage else []
    return row, row.spec(), rows


def print_summary(console, ws: Path, name: str, outcome) -> None:
    """After a run or resume: the table, the best trial, then how to continue or what to look at next."""
    row, spec, rows = load(ws, name)
    print_table(console, name, row.status, rows, spec)
    if outcome.reconciled:
        console.print(f"[yellow]{outcome.reconciled} Optuna trial(s) left RUNNING by an earlier driver were "
                      f"marked FAIL[/]")
    if outcome.status == "interrupted":
        done = sum(r.state in ("COMPLETE", "PRUNED", "FAIL") for r in rows)
        console.print(f"[yellow]study {name} interrupted with {done} of {row.num_trials} trial(s) finished; "
                      f"the others resume from their last checkpoint[/]")
        hints.print_steps(console, hints.next_steps(name, ws, finished=False)[:1], "continue with")
        return
    _best(console, spec, rows, all_failed=outcome.failures.all_failed)
    completed = any(r.state == "COMPLETE" for r in rows)
    hints.print_steps(console, hints.next_steps(name, ws, finished=True, completed=completed))


def _best(console, spec, rows, all_failed: bool = False) -> None:
    import yaml

    from study.reading import trial_config

    done = [r for r in rows if r.state == "COMPLETE"]
    if not done:
        if rows and not all_failed:  # all failed: the failure lines say why
            console.print("[yellow]no trial completed: every trial was stopped or failed (see stop reason)[/]")
        return
    metric, mode = spec.search.metrics[0], spec.search.modes[0]
    best = (max if mode == "max" else min)(done, key=lambda r: r.metrics.get(metric, float("nan")))
    console.print(f"\nbest: trial {best.number}, {metric} = {fmt(metric, best.metrics.get(metric))} with "
                  + ", ".join(f"{k} = {fmt(k, v)}" for k, v in best.params.items()))
    cfg = trial_config(spec, best.params).model_dump(mode="json")
    changed = {k: v for k, v in cfg.items() if k in KINDS[spec.kind].varied}
    console.print("its config (the parts a study varies; `study export` writes it whole):")
    console.print(yaml.safe_dump(changed, sort_keys=False, default_flow_style=None).rstrip(), markup=False)
