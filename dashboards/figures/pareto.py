"""Clean vs robust validation accuracy of every trial (last epoch), with each study's Pareto front."""
from __future__ import annotations

from dashboards import style
from dashboards.data import OUTCOMES, StudyData, finite
from trainables.schema import records as R

X, Y = R.VAL_CLEAN_ACC, R.VAL_PGD_ACC


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates, both coordinates maximised, sorted by x."""
    front = [i for i, (x, y) in enumerate(points)
             if not any(x2 >= x and y2 >= y and (x2 > x or y2 > y) for x2, y2 in points)]
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def pareto_figure(studies: list[StudyData]):
    import plotly.graph_objects as go

    fig = go.Figure(layout=style.base_layout("Clean vs robust accuracy (validation, last epoch)", 520,
                                             xaxis=dict(title="val clean accuracy (%)"),
                                             yaxis=dict(title="val PGD accuracy (%)", scaleanchor=None)))
    compare = len(studies) > 1
    for si, sd in enumerate(studies):
        pts = [(t, finite(t.metrics.get(X)), finite(t.metrics.get(Y))) for t in sd.trials]
        pts = [(t, x, y) for t, x, y in pts if x is not None and y is not None]
        for outcome in OUTCOMES:
            sel = [(t, x, y) for t, x, y in pts if t.outcome == outcome]
            if not sel:
                continue
            fig.add_trace(go.Scatter(
                x=[100 * x for _, x, _ in sel], y=[100 * y for _, _, y in sel], mode="markers",
                name=(f"{sd.name}: " if compare else "") + style.label(outcome),
                marker=dict(color=style.colour(outcome), symbol=style.symbol(si), size=10,
                            line=dict(width=1, color="#333")),
                text=[f"{sd.name} trial {t.number}" for t, _, _ in sel],
                meta={"study": sd.name, "trials": [t.number for t, _, _ in sel]},
                hovertemplate="%{text}<br>clean %{x:.1f}%<br>PGD %{y:.1f}%<extra></extra>",
            ))
        done = [(t, x, y) for t, x, y in pts if t.state == "COMPLETE"]  # kept results included
        if done:
            idx = pareto_front([(x, y) for _, x, y in done])
            fig.add_trace(go.Scatter(
                x=[100 * done[i][1] for i in idx], y=[100 * done[i][2] for i in idx], mode="lines+markers",
                line=dict(shape="vh", color="#444", dash=style.dash(si), width=1.5),
                marker=dict(symbol="circle-open", size=17, color="#444", line=dict(width=1.5)),
                name=(f"{sd.name}: " if compare else "") + "Pareto front (completed)",
                meta={"study": sd.name, "pareto": [done[i][0].number for i in idx]}, hoverinfo="skip",
            ))
    if not fig.data:
        return style.message_figure("Clean vs robust accuracy", "no trial has reported validation accuracies yet")
    return fig
