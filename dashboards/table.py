"""The trial table: one row per Optuna trial, sortable by clicking a header (plain HTML + a few lines
of inline JS), each trial linked to its MLflow run(s) in the MLflow UI."""
from __future__ import annotations

from html import escape

from dashboards import style
from dashboards.data import StudyData, finite
from study.console.display import trial_label
from study.tracking.mlflow_ui import run_url
from trainables.schema import records as R

HEADLINE = (R.BEST_EPOCH, R.VAL_ROBUST_ACC, R.VAL_PGD_ACC, R.VAL_MASKING_GAP, R.VAL_CLEAN_ACC, R.PROBE_PGD_ACC,
            R.TRAIN_DELTA_MEAN, R.BEST_VAL_PGD, R.BEST_MASKED)
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null || v === "") return null;
    var n = Number(v);
    return isNaN(n) ? v : n;
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        if (x === null) return y === null ? 0 : 1;
        if (y === null) return -1;
        var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _cell(text: str, sort_value=None, cls: str = "", raw: bool = False) -> str:
    v = "" if sort_value is None else escape(str(sort_value), quote=True)
    c = f' class="{cls}"' if cls else ""
    return f'<td data-v="{v}"{c}>{text if raw else escape(text)}</td>'


def _fmt(v, key: str = "") -> str:
    """A cell's text: an accuracy in % (as the console and the figures show it), other floats to 4 digits."""
    f = finite(v)
    if f is None:
        return "" if v is None else str(v)
    if key and style.is_percent(key):
        return f"{100 * f:.1f}%"
    return f"{f:.4g}" if isinstance(v, float) else str(v)


def _mlflow_cell(sd: StudyData, t, mlflow_ui: str) -> str:
    """Links to the trial's MLflow run(s), one per seed, titled with the run's name (``trial-3``) and Ray's id."""
    links = []
    for r in t.runs:
        if r.run_id and sd.experiment_id:
            text = "run" if len(t.runs) == 1 else f"seed {r.seed_index}"
            links.append(f'<a href="{escape(run_url(mlflow_ui, sd.experiment_id, r.run_id), quote=True)}" '
                         f'target="_blank" rel="noopener" title="MLflow run {trial_label(t.number, r.seed_index)} '
                         f'(Ray trial {escape(r.ray_trial_id)})">{text}</a>')
    return _cell(" ".join(links), len(links), raw=True)


def trial_table(studies: list[StudyData], mlflow_ui: str = DEFAULT_MLFLOW_UI) -> str:
    compare = len(studies) > 1
    params = list(dict.fromkeys(p for sd in studies for p in sd.parameters))
    metrics = list(dict.fromkeys([*studies[0].metrics, *HEADLINE]))
    heads = (["study"] if compare else []) + ["trial", "state", "outcome", "stop reason", "epochs", "MLflow", *params,
                                              *metrics]
    out = ['<table class="sortable trials"><thead><tr>']
    out += [f'<th title="{escape(h, quote=True)} (click to sort)">{escape(h).replace("/", "/<wbr>")}</th>'
            for h in heads]
    out.append("</tr></thead><tbody>")
    for sd in studies:
        for t in sd.trials:
            cells = [_cell(sd.name, sd.name)] if compare else []
            cells += [
                _cell(str(t.number), t.number, "num"),
                _cell(t.state, t.state),
                _cell(f'<span class="dot" style="background:{style.colour(t.outcome)}"></span>'
                      f'{escape(style.label(t.outcome))}', style.label(t.outcome), raw=True),
                _cell(t.stop_reason or "", t.stop_reason),
                _cell(_fmt(t.epochs), t.epochs, "num"),
                _mlflow_cell(sd, t, mlflow_ui),
            ]
            for p in params:
                v = t.config_values.get(p, t.params.get(p))
                cells.append(_cell(_fmt(v), v, "num" if finite(v) is not None else ""))
            for m in metrics:
                v = t.metrics.get(m)
                masked = m in (R.BEST_VAL_ROBUST, R.BEST_VAL_PGD) and t.metrics.get(R.BEST_MASKED)
                cells.append(_cell(_fmt(v, m) + (" MASKED" if masked else ""), finite(v), "num"))
            out.append(f'<tr data-study="{escape(sd.name, quote=True)}" data-trial="{t.number}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)
