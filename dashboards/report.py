"""The study report: load the studies, draw one figure per section, write one HTML file."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Optional

from dashboards.data import OUTCOMES, StudyData, load_studies
from dashboards.html import Section, figure_html, render_page
from dashboards.style import label
from dashboards.table import DEFAULT_MLFLOW_UI, SORT_JS, trial_table
from study.console.explain import BEST, MASKED
from study.tracking.mlflow_ui import experiment_url

# Section ids, in page order (tests and links rely on them).
ANSWER, DELTA_ENERGY, PROBE_DELTA, VAL_PGD, PARALLEL, IMPORTANCE, PARETO, TRIALS = (
    "answer", "delta-energy", "probe-delta-energy", "val-pgd", "parallel", "importance", "pareto", "trials")
SECTION_IDS = (ANSWER, DELTA_ENERGY, PROBE_DELTA, VAL_PGD, PARALLEL, IMPORTANCE, PARETO, TRIALS)
TABLE_SECTIONS = (ANSWER, TRIALS)  # a table, no figure


@dataclass
class ReportResult:
    path: Path
    studies: list[StudyData]
    notes: list[str]


def build_sections(studies: list[StudyData], mlflow_ui: str = DEFAULT_MLFLOW_UI) -> list[Section]:
    from dashboards.answer import CAPTION, answer_body
    from dashboards.figures.histories import probe_delta_energy_figure, val_pgd_figure
    from dashboards.figures.importance import importance_figure
    from dashboards.figures.parallel import parallel_figure
    from dashboards.figures.pareto import pareto_figure
    from dashboards.figures.rule_view import caption, rule_view_figure

    data_notes = [n for sd in studies for n in sd.notes]
    imp_fig, imp_notes = importance_figure(studies)
    compare = " Studies being compared are drawn with different dashes / marker shapes." if len(studies) > 1 else ""
    return [
        Section(ANSWER, "The answer: test reading of the best configurations", answer_body(studies), CAPTION),
        Section(DELTA_ENERGY, "ΔE traces: what the stopping rule watches",
                figure_html(rule_view_figure(studies), "fig-" + DELTA_ENERGY),
                "One line per run, coloured by outcome, with the ΔE rule's band (the rule stops a run when a reading "
                "leaves it after the grace period). " + caption(studies) + compare, data_notes),
        Section(PROBE_DELTA, "ΔE in eval mode (probe batch)",
                figure_html(probe_delta_energy_figure(studies), "fig-" + PROBE_DELTA),
                "Mean ΔE on the same fixed batch of training images every epoch, model in eval mode, under the "
                "probe PGD: unlike the training trace (train-mode BatchNorm, the training attack) its scale is "
                "comparable across epochs, runs and studies." + compare),
        Section(VAL_PGD, "Validation PGD accuracy", figure_html(val_pgd_figure(studies), "fig-" + VAL_PGD),
                "Robust accuracy on the validation split per epoch, coloured by outcome." + compare, data_notes),
        Section(PARALLEL, "Parameters vs objective", figure_html(parallel_figure(studies), "fig-" + PARALLEL),
                "One line per trial: its parameter values (as resolved in its run config), outcome and last-epoch "
                "objective; drag along an axis to filter."),
        Section(IMPORTANCE, "Parameter importances", figure_html(imp_fig, "fig-" + IMPORTANCE),
                "optuna.importance.get_param_importances over the COMPLETE trials (fANOVA, seed 0).", imp_notes),
        Section(PARETO, "Clean vs robust accuracy", figure_html(pareto_figure(studies), "fig-" + PARETO),
                "Last-epoch validation accuracies of every trial; the line is the Pareto front of the completed "
                "trials (both maximised)." + compare),
        Section(TRIALS, "Trials", f'<div class="table-wrap">{trial_table(studies, mlflow_ui)}</div>',
                "One row per Optuna trial; click a header to sort; the MLflow links open each run in the MLflow UI "
                f"at {mlflow_ui}. Accuracies in %. {BEST}; the other val/ columns are the last epoch's. {MASKED}"),
    ]


def _header(studies: list[StudyData], mlflow_ui: str) -> list[str]:
    lines = []
    for sd in studies:
        counts = {o: sum(t.outcome == o for t in sd.trials) for o in OUTCOMES}
        outcome = ", ".join(f"{n} {label(o)}" for o, n in counts.items() if n)
        objectives = ", ".join(f"{m} ({md})" for m, md in zip(sd.metrics, sd.modes))
        url = experiment_url(mlflow_ui, sd.experiment_id, sd.metrics[0], sd.modes[0]) if sd.experiment_id else ""
        exp = (f' · <a class="mlflow-experiment" href="{escape(url, quote=True)}" target="_blank" rel="noopener">'
               f'MLflow experiment {escape(sd.experiment_id)}: its trials</a>' if url else "")
        lines.append(f"<b>{escape(sd.name)}</b> ({escape(sd.status)}): {len(sd.trials)} trials ({escape(outcome)}); "
                     f"objective {escape(objectives)}; {sd.spec.run.epochs} epoch(s) × {sd.spec.search.seeds} "
                     f"seed(s){exp}")
    lines.append(f"generated {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    return lines


def build_report(workspace: Path, name: str, compare: tuple[str, ...] = (), out: Optional[Path] = None,
                 mlflow_ui: str = DEFAULT_MLFLOW_UI, optuna_storage: Optional[str] = None,
                 mlflow_uri: Optional[str] = None) -> ReportResult:
    """Write the report of ``name`` (and the studies it is compared with) to ``out``."""
    from study.errors import UserError
    from study.results.export import check_out_dir

    names = list(dict.fromkeys([name, *compare]))
    out = Path(out) if out else Path(workspace) / "reports" / f"{'_vs_'.join(names)}.html"
    out = check_out_dir(out.parent, "write the report into", "--out FILE.html") / out.name
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give the HTML file to write, e.g. {out / (names[0] + '.html')}")
    studies = load_studies(Path(workspace), names, optuna_storage, mlflow_uri)
    sections = build_sections(studies, mlflow_ui)
    title = f"Study report: {' vs '.join(names)}"
    html = render_page(title, _header(studies, mlflow_ui), sections, scripts=(SORT_JS,))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    notes = list(dict.fromkeys(n for s in sections for n in s.notes))
    return ReportResult(out, studies, notes)
