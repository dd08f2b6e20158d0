"""How figures and trial tables look on the console: units on every number, readable at 100 columns.

Accuracies are shown in percent, times in seconds, ε and α in their 1/255 units (as written in
specs); ``study status --json`` keeps the raw values. Column headers break at ``/`` and ``.``
rather than inside a word, and values are never wrapped, so a trial table stays readable in a
100-column terminal.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Optional, Sequence

from study.stopping.outcome import stop_phrase
from trainables.schema import records as R

PIXEL_UNITS = ("epsilon", "alpha")  # method.epsilon, method.alpha, eval.epsilon: in 1/255
STATE_WIDTH = len("COMPLETE")


def console(stderr: bool = False):
    """A rich console: the terminal's width, else (a pipe or a log file) 200 columns, so nothing folds."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(highlight=False, width=width, stderr=stderr)


def unit(key: str) -> str:
    """The unit a value of ``key`` (a metric or a dotted parameter) is shown in ('' for none)."""
    last = key.replace("/", ".").rsplit(".", 1)[-1]
    if last.endswith("acc") or last == "masking_gap":  # accuracies and the gap between two of them
        return "%"
    if key.startswith(("time/", "gen/")) and last.endswith("_s"):  # time/epoch_s, gen/sgld_s: durations
        return "s"
    if last in PIXEL_UNITS:
        return "/255"
    return ""


def fmt(key: str, v: Any, with_unit: bool = True) -> str:
    """One figure in its unit: accuracy 0.4123 -> '41.2%', 8.43 s -> '8.4 s', ε 8.0 -> '8/255'.

    ``with_unit=False`` leaves the unit to a column header (``header``)."""
    if v is None or v == "":
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    u = unit(key)
    if u == "%":
        text = f"{100 * v:.1f}"
    elif u == "s":
        text, u = f"{v:.1f}", " s"
    else:
        text = str(v) if isinstance(v, int) else f"{v:.3g}"
    return text + u if with_unit else text


def header(key: str, width: int = 8) -> str:
    """A column header that wraps after '/' or '.' (never inside a word), with its unit."""
    u = unit(key)
    lines, line = [], ""
    for part in _parts(key):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    return "\n".join(lines) + (f"\n({u})" if u else "")


def _parts(key: str) -> list[str]:
    parts, cur = [], ""
    for ch in key:
        cur += ch
        if ch in "/.":
            parts.append(cur)
            cur = ""
    return parts + ([cur] if cur else [])


def trial_table(title: str, rows: Sequence[Any], metrics: Sequence[str]):
    """A rich Table of ``study.results.status.TrialRow``s: trial number, state, stop reason, epochs, params, metrics."""
    from rich import box
    from rich.table import Table

    params = list(dict.fromkeys(k for r in rows for k in r.params))
    metrics = [m for m in metrics if m != R.VAL_MASKING_GAP or any(m in r.metrics for r in rows)]  # only if measured
    t = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1),
              title_justify="left", collapse_padding=True)
    t.add_column("trial", justify="right", no_wrap=True)
    t.add_column("state", no_wrap=True, min_width=STATE_WIDTH)
    t.add_column("stop", min_width=len("collapse at step"))  # wraps between words
    t.add_column("epochs", justify="right", no_wrap=True)
    for key in (*params, *metrics):
        t.add_column(header(key), justify="right", no_wrap=True)
    for r in rows:
        reason = stop_phrase(r.stop_reason, r.state, getattr(r, "stop_step", None), short=True) or "-"
        t.add_row(str(r.number), r.state, reason, fmt("", r.epochs),
                  *(fmt(p, r.params.get(p), False) for p in params), *(_cell(r.metrics, m) for m in metrics))
    return t


def _cell(metrics: dict, name: str) -> str:
    """A metric cell. MASKED marks the selected checkpoint's readings when the masking check flagged that epoch
    (``best/masked``), and the masking gap when the last epoch was flagged (``val/masked``)."""
    text = fmt(name, metrics.get(name), False)
    flagged = metrics.get(R.BEST_MASKED) if name in (R.BEST_VAL_ROBUST, R.BEST_VAL_PGD) else (
        metrics.get(R.VAL_MASKED) if name == R.VAL_MASKING_GAP else None)
    return text + " MASKED" if flagged else text


def table_notes(rows: Sequence[Any], metrics: Sequence[str]) -> list[str]:
    """The lines under a trial table that say what its columns and marks mean (only those it shows)."""
    from study.console.explain import BEST, MASKED

    notes = []
    if R.BEST_VAL_ROBUST in metrics and rows:
        notes.append(BEST + "; the other val/ columns are the last epoch's")
    if any(r.state == "COMPLETE" and r.stop_reason for r in rows):
        notes.append("result kept: a rule stopped the trial after a failure (CO probe, ΔE, NaN); its checkpoint "
                     "selected before the stop is its result, counted, exported and registered like any other")
    if any(r.metrics.get(R.BEST_MASKED) for r in rows) and {R.BEST_VAL_ROBUST, R.BEST_VAL_PGD} & set(metrics):
        notes.append(MASKED)
    return notes


def shown_metrics(search_metrics: Sequence[str], generation: bool) -> list[str]:
    """The search metrics, then (for training studies) the selected epoch when the objective is the selected
    checkpoint's reading, clean accuracy, the masking gap and the mean training ΔE."""
    best = (R.BEST_EPOCH,) if any(m.startswith("best/") for m in search_metrics) else ()
    extra = () if generation else (*best, R.VAL_CLEAN_ACC, R.VAL_MASKING_GAP, R.TRAIN_DELTA_MEAN)
    return list(dict.fromkeys([*search_metrics, *extra]))


def trial_label(number: Optional[int], seed_index: int = 0) -> str:
    """The one name of a trial on the console and in MLflow: ``trial-3`` (``trial-3-seed1`` for extra seeds)."""
    return f"trial-{number}" + (f"-seed{seed_index}" if seed_index else "")
