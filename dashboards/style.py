"""One look for every figure: outcome colours, per-study line dashes and marker symbols, layout defaults."""
from __future__ import annotations

from dashboards.data import (ASHA, COMPLETED, DEGENERATE, DELTA_ENERGY, FAILED, NAN, OUTCOME_LABELS, PROBE, PRUNED,
                             RUNNING)

OUTCOME_COLOURS = {
    COMPLETED: "#2ca02c", DELTA_ENERGY: "#d62728", PROBE: "#ff7f0e", NAN: "#9467bd",
    ASHA: "#1f77b4", DEGENERATE: "#bcbd22", PRUNED: "#8c564b", FAILED: "#7f7f7f", RUNNING: "#17becf",
}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "star")
STOP_SYMBOL = "x"


def colour(outcome: str) -> str:
    return OUTCOME_COLOURS.get(outcome, "#333333")


def label(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, outcome)


def dash(study_index: int) -> str:
    return DASHES[study_index % len(DASHES)]


def symbol(study_index: int) -> str:
    return SYMBOLS[study_index % len(SYMBOLS)]


def base_layout(title: str, height: int = 480, **extra) -> dict:
    layout = dict(title=dict(text=title, x=0.01), height=height, template="plotly_white",
                  margin=dict(l=70, r=30, t=60, b=60), legend=dict(groupclick="togglegroup"))
    layout.update(extra)
    return layout


def message_figure(title: str, text: str, height: int = 260):
    """A figure holding only a message, so a section keeps its one figure when there is nothing to draw."""
    import plotly.graph_objects as go

    fig = go.Figure(layout=base_layout(title, height))
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# ---------------------------------------------------------------- units: accuracies in % everywhere (issue 32)

def is_percent(key: str) -> bool:
    """Whether a metric is drawn in % (accuracies and the masking gap, as the console prints them)."""
    from study.console.display import unit

    return unit(key) == "%"


def scaled(v, scale: float):
    """A value for a figure: ×``scale`` (100 for a % metric); None for missing and non-finite (a gap)."""
    from dashboards.data import finite

    f = finite(v)
    return None if f is None else f * scale


def percent_values(key: str, values):
    """``values`` of ``key`` as drawn: in % for an accuracy, as they are otherwise (None for non-finite)."""
    scale = 100.0 if is_percent(key) else 1.0
    return [scaled(v, scale) for v in values]


def unit_label(key: str) -> str:
    """An axis title: the metric's name with its unit, e.g. "val/pgd_acc (%)"."""
    return f"{key} (%)" if is_percent(key) else key


def axis_title(key: str) -> str:
    return unit_label(key)


def hover_value(key: str, var: str = "y") -> str:
    """The hover text of a value of ``key``: "41.2%" for an accuracy, 4 significant digits otherwise."""
    return f"{key} %{{{var}:.1f}}%" if is_percent(key) else f"{key} %{{{var}:.4g}}"
