"""The study's answer on the console: one row per configuration read on test (``study.results.answer``), best first."""
from __future__ import annotations

from study.console.display import fmt, header


def answer_table(answer: dict):
    """A rich Table: rank, trial, the ranking metric's value, the selected epoch(s), each test reading, a note."""
    from rich import box
    from rich.table import Table

    from study.results import answer as A

    entries = sorted(answer.get("trials", {}).items(), key=lambda kv: (kv[1].get("rank", 0), int(kv[0])))
    metrics = list(dict.fromkeys(k for _, e in entries for k in e.get("metrics", {})))
    metrics.sort(key=lambda k: (not k.endswith("clean_acc"), k.endswith(("autoattack_acc", "apgd_ce_t_acc")), k))
    n = answer.get("settings", {}).get("images")
    t = Table(title=f"the study's answer: test reading on {n:,} images" if n else "the study's answer",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    ranked_by = answer.get("ranked_by", "")
    for col in ("rank", "trial"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column(header(ranked_by), justify="right", no_wrap=True)
    t.add_column("selected\nepoch", justify="right", no_wrap=True)
    for m in metrics:
        t.add_column(f"{A.label(m)}\n(%)", justify="right", no_wrap=True)
    t.add_column("note")
    for number, e in entries:
        seeds = len(e.get("seeds", [])) or 1
        note = "; ".join(x for x in ("MASKED" if e.get("masked") else "",
                                     f"mean of {seeds} seeds" if seeds > 1 else "") if x)
        t.add_row(str(e.get("rank", "")), number, fmt(ranked_by, e.get("objective"), False),
                  "/".join(f"{x:g}" for x in e.get("epochs", [])),
                  *(fmt(m, e.get("metrics", {}).get(m), False) for m in metrics), note)
    return t


def answer_notes(answer: dict) -> list[str]:
    """What the answer's numbers are, under its table."""
    n = answer.get("settings", {}).get("images")
    return [f"each configuration's selected checkpoint (best.pt: the epoch with the highest val/robust_acc) read once "
            f"on the first {n:,} test images, at the study's evaluation radius, in fp32; the ranking used validation "
            f"only, so these are unbiased test figures (recorded in Optuna, in each trial's MLflow run and in the "
            f"report; read {answer.get('updated', '')})"]


def print_answer(console, answer: dict) -> None:
    if not answer.get("trials"):
        return
    console.print(answer_table(answer))
    for note in answer_notes(answer):
        console.print(note, markup=False, style="dim")
