"""Parallel coordinates: each trial's parameters (values of its resolved config) against the objective(s)."""
from __future__ import annotations

from dashboards import style
from dashboards.data import OUTCOMES, StudyData, finite


def _axis(label: str, values: list):
    """A numeric axis as is; anything else (choices, booleans, strings) as categories."""
    nums = [finite(v) for v in values]
    if all(n is not None for n in nums):
        return dict(label=label, values=nums)
    cats = list(dict.fromkeys(str(v) for v in values))
    return dict(label=label, values=[cats.index(str(v)) for v in values], tickvals=list(range(len(cats))),
                ticktext=cats)


def parallel_figure(studies: list[StudyData]):
    import plotly.graph_objects as go

    main = studies[0]
    objectives = main.metrics
    params = list(dict.fromkeys(p for sd in studies for p in sd.parameters))
    rows = [(sd, t) for sd in studies for t in sd.trials
            if all(finite(t.metrics.get(m)) is not None for m in objectives) and t.config_values]
    title = "Parameters against the objective" + ("s" if len(objectives) > 1 else "")
    if not rows:
        return style.message_figure(title, "no trial has reported the objective yet")
    dims = []
    if len(studies) > 1:
        names = [sd.name for sd in studies]
        dims.append(dict(label="study", values=[names.index(sd.name) for sd, _ in rows],
                         tickvals=list(range(len(names))), ticktext=names))
    for p in params:
        dims.append(_axis(p, [t.config_values.get(p) for _, t in rows]))
    present = [o for o in OUTCOMES if any(t.outcome == o for _, t in rows)]
    dims.append(dict(label="outcome", values=[present.index(t.outcome) for _, t in rows],
                     tickvals=list(range(len(present))), ticktext=[style.label(o) for o in present]))
    for m in objectives:
        dims.append(dict(label=f"{style.unit_label(m)} (last epoch)", values=style.percent_values(
            m, [t.metrics[m] for _, t in rows])))
    first = style.percent_values(objectives[0], [t.metrics[objectives[0]] for _, t in rows])
    trace = go.Parcoords(
        dimensions=dims,
        line=dict(color=first, colorscale="Viridis", showscale=True,
                  colorbar=dict(title=dict(text=style.unit_label(objectives[0])))),
        meta={"trials": [{"study": sd.name, "trial": t.number} for sd, t in rows]},
    )
    fig = go.Figure(trace, layout=style.base_layout(title, 480, margin=dict(l=90, r=90, t=90, b=40)))
    return fig
