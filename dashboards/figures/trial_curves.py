"""Two (or more) trials' per-epoch curves on shared axes: one panel per metric, one colour per trial, the epoch
axis shared by every panel (``study compare``). Accuracies are drawn in %."""
from __future__ import annotations

from typing import Sequence

from dashboards import style

TRIAL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def trial_curves_figure(study: str, sides: Sequence, metrics: Sequence[str]):
    """``sides``: objects with ``number`` and ``history`` ({metric: [(epoch, value)]}), e.g. ``study.results.compare.Side``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    shown = [m for m in metrics if any(s.history.get(m) for s in sides)]
    title = f"{study}: trials {' vs '.join(str(s.number) for s in sides)} per epoch"
    if not shown:
        return style.message_figure(title, "no trial has per-epoch metrics in MLflow")
    cols = 2
    rows = (len(shown) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes="all", subplot_titles=[style.axis_title(m) for m in shown],
                        vertical_spacing=0.12 if rows > 1 else 0.2, horizontal_spacing=0.1)
    for i, m in enumerate(shown):
        r, c = i // cols + 1, i % cols + 1
        scale = 100.0 if style.is_percent(m) else 1.0
        for j, s in enumerate(sides):
            points = s.history.get(m, [])
            if not points:
                continue
            fig.add_trace(go.Scatter(
                x=[int(e) for e, _ in points], y=[style.scaled(v, scale) for _, v in points], mode="lines+markers",
                name=f"trial {s.number}", legendgroup=f"trial {s.number}", showlegend=i == 0,
                line=dict(color=TRIAL_COLOURS[j % len(TRIAL_COLOURS)], width=2), marker=dict(size=5),
                meta={"trial": s.number, "metric": m},
                hovertemplate=f"trial {s.number}<br>epoch %{{x}}<br>{style.hover_value(m)}<extra></extra>"),
                row=r, col=c)
        fig.update_yaxes(title_text=style.unit_label(m), row=r, col=c)
        fig.update_xaxes(title_text="epoch", dtick=1, row=r, col=c)
    fig.update_layout(**style.base_layout(title, 300 * rows + 80, hovermode="x unified"))
    return fig
