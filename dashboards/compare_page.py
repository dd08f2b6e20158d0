"""The page ``study compare`` writes: two trials' configs side by side (differences first), their outcomes, their
curves on shared axes, and the link to MLflow's own compare page. One self-contained HTML file, as the report."""
from __future__ import annotations

from html import escape
from pathlib import Path

from dashboards.html import Section, figure_html, render_page

CONFIG, CURVES_ID = "config", "curves"


def _value(v) -> str:
    return "-" if v is None else escape(str(v))


def config_table(cmp) -> str:
    """Every differing setting first (marked), then the searched parameters that agree, then every other one."""
    out = ['<table class="trials"><thead><tr><th>setting</th>'
           f'<th>trial {cmp.a.number}</th><th>trial {cmp.b.number}</th></tr></thead><tbody>']
    for path, va, vb, differs in cmp.rows(everything=True):
        cls = ' class="differs"' if differs else ""
        mark = " ≠" if differs else ""
        out.append(f'<tr{cls} data-path="{escape(path, quote=True)}"><td>{escape(path)}{mark}</td>'
                   f'<td class="num">{_value(va)}</td><td class="num">{_value(vb)}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def outcome_lines(cmp) -> list[str]:
    from study.console.display import fmt
    from study.console.explain import BEST
    from trainables.schema import records as R

    lines = []
    for s in (cmp.a, cmp.b):
        m = s.metrics
        parts = [f"{s.state}" + (f", {s.stop}" if s.stop else ""),
                 f"{R.BEST_VAL_ROBUST} {fmt(R.BEST_VAL_ROBUST, m.get(R.BEST_VAL_ROBUST))}"
                 + (" MASKED" if m.get(R.BEST_MASKED) else ""),
                 f"selected epoch {fmt('', m.get(R.BEST_EPOCH))}"]
        if s.answer:
            parts.append(f"test (the study's answer): {s.answer}")
        lines.append(f"<b>trial {s.number}</b>: " + escape("; ".join(parts)))
    lines.append(escape(BEST))
    return lines


def write_compare_page(cmp, out: Path, mlflow_ui: str) -> Path:
    from dashboards.figures.trial_curves import trial_curves_figure
    from study.results.compare import CURVES

    url = cmp.mlflow_url(mlflow_ui)
    header = outcome_lines(cmp)
    if url:
        header.append(f'<a class="mlflow-compare" href="{escape(url, quote=True)}" target="_blank" rel="noopener">'
                      f'MLflow: compare their runs</a>')
    fig = trial_curves_figure(cmp.study, [cmp.a, cmp.b], CURVES)
    sections = [
        Section(CURVES_ID, "Curves per epoch, on shared axes", figure_html(fig, "fig-" + CURVES_ID),
                "The first seed of each trial, from its MLflow run; accuracies in %.", cmp.notes),
        Section(CONFIG, "Configs side by side", f'<div class="table-wrap">{config_table(cmp)}</div>',
                "The exact configs the trials ran, every default written out; ≠ marks a difference (listed first)."),
    ]
    html = render_page(f"Study {cmp.study}: trial {cmp.a.number} vs trial {cmp.b.number}", header, sections)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
