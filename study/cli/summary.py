"""What ``study run``, ``resume`` and ``status`` print about a study: its trial table, the best trial, its answer
(the test reading of its best configurations), and the next commands (spelled to work when pasted into a fresh
shell, see ``study.console.hints``).

A study that has just finished reads its answer here, before its summary (``read_answer_at_end``): the strong
test reading runs once, on the driver, for ``evaluation.answer.top`` configurations (``study.results.evaluate``)."""
from __future__ import annotations

from pathlib import Path

from study.console import hints
from study.console.display import fmt, shown_metrics, table_notes, trial_table
from study.kinds import KINDS
from trainables.schema import records as R


def print_table(console, name: str, status: str, rows, spec) -> None:
    from study.cli.answer_view import print_answer
    from study.results.status import answer_of_rows

    generation = any(m.startswith(R.GEN_PREFIX) for m in spec.search.metrics)
    metrics = shown_metrics(spec.search.metrics, generation)
    console.print(trial_table(f"study {name} ({status})", rows, metrics))
    for note in table_notes(rows, metrics):
        console.print(note, markup=False, style="dim")
    print_answer(console, answer_of_rows(rows))


def load(ws: Path, name: str):
    """(catalog row, spec, trial rows) of a study; no rows when its Optuna URL needs a password again."""
    from study.stores.catalog import Catalog
    from study.results.status import trial_rows

    row = Catalog.open(ws).get(name)
    rows = trial_rows(row.optuna_storage, row.optuna_study) if "***" not in row.optuna_storage else []
    return row, row.spec(), rows


def print_summary(console, ws: Path, name: str, outcome) -> None:
    """After a run or resume: the answer's reading (once, when the study has just finished), the table, the best
    trial, then how to continue or what to look at next."""
    read_answer_at_end(console, ws, name, outcome)
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
    _best(console, spec, rows, all_failed=outcome.failures.all_failed, name=name)
    completed = any(r.state == "COMPLETE" for r in rows)
    hints.print_steps(console, hints.next_steps(name, ws, finished=True, completed=completed)
                      + more_steps(name, ws, spec, rows))


def more_steps(name: str, ws: Path, spec, rows) -> list[tuple[str, str]]:
    """The steps after export: the answer's reading of more configurations, and two trials side by side."""
    done = [r for r in rows if r.state == "COMPLETE"]
    if spec.kind != "train" or not done:
        return []
    steps = [(hints.command("evaluate", name, "--top", "3", workspace=ws),
              "the test reading (PGD, AutoAttack) of the 3 best configurations: the study's answer")]
    metric, mode = spec.search.metrics[0], spec.search.modes[0]
    ranked = sorted(done, key=lambda r: r.metrics.get(metric, float("nan")), reverse=mode == "max")
    if len(ranked) > 1:
        a, b = ranked[0].number, ranked[1].number
        steps.append((hints.command("compare", name, str(a), str(b), workspace=ws),
                      "two trials side by side: parameters, curves, the MLflow compare link"))
    return steps


def read_answer_at_end(console, ws: Path, name: str, outcome) -> None:
    """A study that has just finished reads its answer (``evaluation.answer``): the test reading of its ``top``
    configurations, with progress lines. It never fails the study: a reading that cannot be taken says why and
    how to take it later (``study evaluate``)."""
    import logging
    import signal

    from rich.markup import escape

    from study.run import interrupt
    from study.errors import UserError
    from study.results.evaluate import evaluate_answer
    from study.results.reading import open_study

    if outcome.status != "finished" or not getattr(outcome, "resumed", True) or getattr(outcome, "fault", None):
        return
    try:
        handle = open_study(ws, name)
    except UserError:  # a store URL with a masked password: `study evaluate` asks for it
        return
    top = handle.spec.evaluation.answer.top
    if handle.spec.kind != "train" or top < 1:
        return
    later = hints.command("evaluate", name, "--top", str(top), workspace=ws)
    interrupt.set_resume_hint(later)  # a Ctrl-C from here on says how to read it later
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ray Tune leaves its own handler, which only sets a flag
    try:
        evaluate_answer(handle, top, lambda line: console.print(line, markup=False, soft_wrap=True), at_end=True)
        interrupt.set_resume_hint(None)
        answer = handle.spec.evaluation.answer
        if answer.at_end == "pgd" and answer.autoattack != "off":
            console.print(f"AutoAttack ({answer.autoattack}) is read by `study evaluate` (minutes on 2 CPU cores; "
                          f"evaluation.answer.at_end: full reads it here): {later}", markup=False, style="dim",
                          soft_wrap=True)
    except UserError as e:
        console.print(f"[yellow]the study's answer was not read:[/] {escape(str(e))}; read it with: {escape(later)}",
                      soft_wrap=True)
    except Exception as e:  # noqa: BLE001 - the study itself finished: its answer is a separate step
        logging.getLogger(__name__).exception("reading the answer of study %s failed", name)
        console.print(f"[yellow]the study's answer was not read[/] ({type(e).__name__}: {escape(str(e)[:200])}); the "
                      f"traceback is in the study's log; read it with: {escape(later)}", soft_wrap=True)


def _best(console, spec, rows, all_failed: bool = False, name: str = "") -> None:
    import yaml

    from study.results.reading import trial_config

    done = [r for r in rows if r.state == "COMPLETE"]
    if not done:
        if rows and not all_failed:  # all failed: the failure lines say why
            console.print("[yellow]no trial completed: every trial was stopped or failed (see stop reason)[/]")
        return
    metric, mode = spec.search.metrics[0], spec.search.modes[0]
    best = (max if mode == "max" else min)(done, key=lambda r: r.metrics.get(metric, float("nan")))
    console.print(f"\nbest: trial {best.number}, {metric} = {fmt(metric, best.metrics.get(metric))} with "
                  + ", ".join(f"{k} = {fmt(k, v)}" for k, v in best.params.items()))
    ran = KINDS[spec.kind].exported(trial_config(spec, best.params), name or spec.name, best.number)  # defaults written out
    cfg = ran.model_dump(mode="json")
    changed = {k: v for k, v in cfg.items() if k in KINDS[spec.kind].varied}
    console.print("its config (the parts a study varies; `study export` writes it whole):")
    console.print(yaml.safe_dump(changed, sort_keys=False, default_flow_style=None).rstrip(), markup=False)
