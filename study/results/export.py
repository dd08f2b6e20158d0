"""``study export``: a study's best trials as run configs that ``study train`` runs as is.

Selection reads the Optuna storage only (the search state's owner): the K best COMPLETE trials
by a metric, or the Pareto set of a two-objective study. Each selected trial is written as the
exact ``RunConfig`` its Ray worker ran (``trainables.schema.trial.resolve_config`` over the spec's run
block, the Optuna params and the seed index), next to ``summary.csv``/``summary.json`` that also
name each trial's MLflow child runs (found by their ``trial_id`` tag).

Opening a study from the catalog and finding its MLflow runs is ``study.results.reading`` (shared with
``study status`` and the report); this module selects trials and writes files.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from study.errors import UserError
from study.kinds import KINDS
from study.results.reading import FIRST_SEED_INDEX, StudyHandle, mlflow_runs, trial_config
from study.search.search import TrialAttrs
from study.stopping.outcome import stop_phrase
from trainables.schema import records as R

SUMMARY_CSV, SUMMARY_JSON = "summary.csv", "summary.json"
DEFAULT_TOP = 3
EXPORTED_SEED_INDEX = FIRST_SEED_INDEX


# ---------------------------------------------------------------- selection

@dataclass
class Selection:
    kind: str  # "top": best K by one metric; "pareto": Optuna's best_trials
    metrics: list[str]
    modes: list[str]
    trials: list[Any]  # optuna FrozenTrial, best first
    scores: list[list[Optional[float]]]  # per trial, one value per metric
    notes: list[str] = field(default_factory=list)


def _finite(x) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def metric_value(trial, metric: str, search_metrics: list[str]) -> Optional[float]:
    """A search metric is the value Optuna was told; any other is the trial's ``metrics`` user attr."""
    if metric in search_metrics and trial.values is not None:
        return _finite(trial.values[search_metrics.index(metric)])
    return _finite(TrialAttrs.of(trial).metric(metric))


def _state_counts(trials) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials at all"


def refuse_test_metric(metric: Optional[str]) -> None:
    """Ranking trials by a test-set reading would pick the configuration that happens to do best on the very
    images that are meant to judge it, and the figure reported for it would no longer be a test reading."""
    if metric is not None and metric.startswith(R.TEST_PREFIX):
        raise UserError(f"--metric {metric} is a test-set reading; trials are ranked on validation only, because "
                        f"choosing a configuration by its test figure makes that figure an optimistic estimate and "
                        f"leaves nothing unseen to report. Rank by a validation metric (the default, "
                        f"{R.BEST_VAL_ROBUST}, or e.g. {R.VAL_PGD_ACC}); the exported summary.csv still lists each "
                        f"trial's test/... figures as its final reading")


def select_trials(study, spec, top: Optional[int] = None, metric: Optional[str] = None,
                  mode: Optional[str] = None) -> Selection:
    """Best ``top`` COMPLETE trials by ``metric``; for a two-objective study without ``metric``, the Pareto set."""
    from optuna.trial import TrialState

    if top is not None and top < 1:
        raise UserError(f"--top must be at least 1 (got {top})")
    refuse_test_metric(metric)
    if mode is not None and mode not in ("max", "min"):
        raise UserError(f"--mode must be max or min (got {mode!r})")
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise UserError(f"study {study.study_name!r} has no COMPLETE trials to export ({_state_counts(trials)}); "
                        f"PRUNED trials (stopped by ASHA, degenerate, or with no finite objective) are not exported, "
                        f"trials stopped by the probe or ΔE rule keep their result and are COMPLETE")
    metrics, modes = list(spec.search.metrics), list(spec.search.modes)
    if metric is None and len(metrics) > 1:
        best = list(study.best_trials)
        sign = -1 if modes[0] == "max" else 1
        best.sort(key=lambda t: (sign * t.values[0], t.number))
        chosen = best[:top] if top else best
        notes = [f"Pareto set of {len(best)} trial(s) over {', '.join(metrics)}"
                 + (f", first {len(chosen)} by {metrics[0]}" if len(chosen) < len(best) else "")]
        return Selection("pareto", metrics, modes, chosen, [[_finite(v) for v in t.values] for t in chosen], notes)

    m = metric or metrics[0]
    if m not in metrics:
        known = sorted({k for t in complete for k in TrialAttrs.of(t).metrics})
        if m not in known:
            raise UserError(f"unknown metric {m!r} for study {study.study_name!r}: the COMPLETE trials have "
                            f"{', '.join(metrics + [k for k in known if k not in metrics]) or 'no metrics'}")
    if mode is None:
        if m in metrics:
            mode = modes[metrics.index(m)]
        elif m.endswith("acc"):
            mode = "max"
        else:
            raise UserError(f"{m!r} is not a search metric of this study; say which way is better with --mode max "
                            f"or --mode min")
    scored = [(t, metric_value(t, m, metrics)) for t in complete]
    missing = [t.number for t, v in scored if v is None]
    scored = [(t, v) for t, v in scored if v is not None]
    if not scored:
        raise UserError(f"no COMPLETE trial of study {study.study_name!r} has a finite {m!r}")
    sign = -1 if mode == "max" else 1
    scored.sort(key=lambda tv: (sign * tv[1], tv[0].number))
    k = top or DEFAULT_TOP
    chosen = scored[:k]
    notes = [f"best {len(chosen)} of {len(complete)} COMPLETE trial(s) by {m} ({mode})"]
    if missing:
        notes.append(f"trial(s) {', '.join(map(str, missing))} have no finite {m} and were skipped")
    return Selection("top", [m], [mode], [t for t, _ in chosen], [[v] for _, v in chosen], notes)


# ---------------------------------------------------------------- writing

def check_out_dir(out: Path, purpose: str = "export to", flag: str = "--out DIR") -> Path:
    """The output folder must be a writable directory or creatable in one; nothing is created here."""
    from study.stores.workspace import check_writable

    return check_writable(Path(out).expanduser().absolute(),
                          f"cannot {purpose} {{path}}: {{probe}} is a file, not a folder; pass {flag}",
                          f"cannot {purpose} {{path}}: {{probe}} is not writable for this user; pass {flag} in a "
                          f"folder you can write to")


def config_filename(number: int) -> str:
    return f"trial_{number}.yaml"


@dataclass
class ExportResult:
    out: Path
    selection: Selection
    rows: list[dict]
    seeds: int
    notes: list[str]


def _header(study_name: str, row: dict, sel: Selection, seeds: int, spec, extra: list[str]) -> str:
    from study.console.explain import best_line, masked_line

    scores = ", ".join(f"{m} ({md}) = {v}" for m, md, v in zip(sel.metrics, sel.modes, row["scores"]))
    lines = [f"study {study_name}, Optuna trial {row['number']} ({row['state']}), rank {row['rank']} "
             f"({'Pareto set' if sel.kind == 'pareto' else 'by ' + sel.metrics[0]}): {scores}"]
    if spec.kind == "train":
        lines.append(best_line(row["metrics"].get(R.BEST_EPOCH), row.get("epochs"), seeds))
    if seeds > 1:
        lines.append(f"seed index {EXPORTED_SEED_INDEX} of {seeds}: the other seeds differ only in `seed` (+1 each)")
    if row.get("stop"):
        lines.append(f"{row['stop']}: its selected checkpoint was taken before the stop")
    if row.get("masked"):
        lines.append(masked_line())
    if row.get("answer"):
        lines.append(f"test reading (the study's answer): {row['answer']}")
    lines.append(KINDS[spec.kind].rerun_hint(spec, row["config"], study_name, row["number"]))
    lines += extra
    return "".join(f"# {x}\n" for x in lines)


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Drop configs a previous export into this folder listed and this one does not rewrite."""
    old = out / SUMMARY_JSON
    try:
        previous = json.loads(old.read_text()).get("trials", [])
    except (OSError, ValueError, AttributeError):
        return
    for r in previous:
        name = r.get("config") if isinstance(r, dict) else None
        if name and name not in keep and Path(name).name == name and name.startswith("trial_"):
            (out / name).unlink(missing_ok=True)


def export_study(handle: StudyHandle, out: Path, top: Optional[int] = None, metric: Optional[str] = None,
                 mode: Optional[str] = None) -> ExportResult:
    """Select, then write one YAML per trial plus ``summary.csv`` and ``summary.json`` into ``out``."""
    import yaml

    from study.stores.urls import mask

    out = check_out_dir(out)
    study = handle.load_optuna()
    sel = select_trials(study, handle.spec, top, metric, mode)
    runs = mlflow_runs(handle)
    seeds = handle.spec.search.seeds
    notes = list(sel.notes) + ([runs.note] if runs.note else [])
    if seeds > 1:
        base_seed = KINDS[handle.spec.kind].base(handle.spec).seed
        notes.append(f"the study ran {seeds} seeds per configuration; each config is seed index "
                     f"{EXPORTED_SEED_INDEX} (seed {base_seed}); metrics are means over the seeds")
    rows = []
    answers = answer_phrases(study)
    for rank, (t, scores) in enumerate(zip(sel.trials, sel.scores), start=1):
        attrs = TrialAttrs.of(t)
        ray_ids = list(attrs.ray_trial_ids)
        rows.append({
            "rank": rank, "number": t.number, "state": t.state.name, "config": config_filename(t.number),
            "scores": scores, "params": dict(t.params), "metrics": dict(attrs.metrics),
            "stop_reason": attrs.stop_reason, "stop": stop_phrase(attrs.stop_reason, t.state.name, attrs.stop_step),
            "masked": bool(attrs.metric(R.BEST_MASKED)), "epochs": attrs.last_epoch,
            "seed_index": EXPORTED_SEED_INDEX, "ray_trial_ids": ray_ids,
            "mlflow_run_ids": [runs.by_trial[r].info.run_id for r in ray_ids if r in runs.by_trial],
            "answer": answers.get(t.number, ""),
        })
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out, {r["config"] for r in rows})
    kind = KINDS[handle.spec.kind]
    for t, row in zip(sel.trials, rows):
        ran = kind.exported(trial_config(handle.spec, t.params, EXPORTED_SEED_INDEX), handle.name, t.number)
        cfg = kind.with_data_root(ran, handle.data_root) if handle.data_root else ran
        note = [f"data.root: the data root the study ran with ({handle.data_root}), so that `study train` "
                f"finds the data in any shell"] if cfg is not ran else []
        note += kind.export_notes()
        body = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        (out / row["config"]).write_text(_header(handle.name, row, sel, seeds, handle.spec, note) + body)
    summary = {
        "study": handle.name, "status": handle.status,
        "selection": {"kind": sel.kind, "metrics": sel.metrics, "modes": sel.modes, "top": top},
        "seeds": seeds, "exported_seed_index": EXPORTED_SEED_INDEX, "notes": notes,
        "optuna_storage": mask(handle.optuna_url), "optuna_study": handle.optuna_study,
        "mlflow_uri": mask(handle.mlflow_uri), "mlflow_experiment_id": runs.experiment_id,
        "mlflow_parent_run_id": handle.mlflow_parent_run_id, "trials": rows,
    }
    (out / SUMMARY_JSON).write_text(json.dumps(summary, indent=1, allow_nan=False, default=_json_default) + "\n")
    _write_csv(out / SUMMARY_CSV, rows, sel)
    return ExportResult(out, sel, rows, seeds, notes)


def answer_phrases(study) -> dict[int, str]:
    """Trial number -> its test reading as the study's answer (``study.results.answer``), in words; none when not read."""
    from study.results.answer import phrase, read_answer

    answer = read_answer(study)
    return {int(n): phrase(entry, answer) for n, entry in answer.get("trials", {}).items()} if answer else {}


def _json_default(x):
    raise TypeError(f"not JSON serialisable: {x!r}")


def _write_csv(path: Path, rows: list[dict], sel: Selection) -> None:
    """One flat row per trial: params as ``param.X``, metrics as ``metric.X``, id lists joined by ';'."""
    params = list(dict.fromkeys(k for r in rows for k in r["params"]))
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    score_cols = [f"score.{m}" for m in sel.metrics]
    cols = ["rank", "number", "state", "config", *score_cols, *(f"param.{p}" for p in params),
            *(f"metric.{m}" for m in metrics), "stop_reason", "stop", "masked", "epochs", "seed_index", "ray_trial_ids",
            "mlflow_run_ids", "answer"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            flat = {k: r[k] for k in ("rank", "number", "state", "config", "stop_reason", "stop", "masked", "epochs",
                                      "seed_index", "answer")}
            flat.update(zip(score_cols, r["scores"]))
            flat.update({f"param.{k}": v for k, v in r["params"].items()})
            flat.update({f"metric.{k}": v for k, v in r["metrics"].items()})
            flat["ray_trial_ids"] = ";".join(r["ray_trial_ids"])
            flat["mlflow_run_ids"] = ";".join(r["mlflow_run_ids"])
            w.writerow(flat)
