"""The ΔE rule's view (issue 15): the statistic ``stopping.delta_energy`` watches, at the resolution the trials
reported it (every ``eval.report_every`` steps, else every epoch), with the rule's band median ± k·scale over the
previous w readings (``DeltaEnergyDivergence.band``: the one definition), a ✕ where each stop fired, and a
caption naming the statistic and the constants."""
from __future__ import annotations

from typing import Optional

from dashboards import style
from dashboards.data import RunData, StudyData, finite
from trainables import records as R


def readings(run: RunData, metric: str) -> tuple[list[float], list[Optional[float]], bool]:
    """(epochs, values, windowed) of ``metric`` in one run: its window series placed on the epoch axis when the run
    reported windows, else its epoch series."""
    window = run.history.get(R.window_key(metric), [])
    if window:
        epoch_at = {s: v for s, v in run.history.get(R.WINDOW_EPOCH, [])}
        points = [(epoch_at[s], v) for s, v in window if s in epoch_at]
        return [float(e) for e, _ in points], [finite(v) for _, v in points], True
    points = run.history.get(metric, [])
    return [float(s) for s, _ in points], [finite(v) for _, v in points], False


def band(rule, values: list[Optional[float]]) -> tuple[list[Optional[float]], list[Optional[float]]]:
    """Lower and upper edge of the rule's band at each reading (None until ``window`` finite readings precede it)."""
    lo: list[Optional[float]] = []
    hi: list[Optional[float]] = []
    past: list[float] = []
    for v in values:
        if len(past) >= rule.window:
            med, scale = rule.band(past[-rule.window:])
            lo.append(med - rule.threshold * scale)
            hi.append(med + rule.threshold * scale)
        else:
            lo.append(None)
            hi.append(None)
        if v is not None:
            past.append(v)
    return lo, hi


def caption(studies: list[StudyData]) -> str:
    parts = []
    for sd in studies:
        r = sd.spec.stopping.delta_energy
        every = sd.spec.run.eval.report_every
        where = (f"every {every} steps (window/{r.metric})" if every else "once per epoch")
        state = "" if r.enabled else " (this rule was off in the study: the band shows what it would have judged)"
        prefix = f"{sd.name}: " if len(studies) > 1 else ""
        parts.append(f"{prefix}statistic {r.metric}, read {where}; band = median of the previous w = {r.window} "
                     f"readings ± k = {r.threshold:g} · max(1.4826·MAD, {r.min_scale:g}, {r.rel_scale:g}·|median|); "
                     f"never before epoch {r.grace_epochs}{state}.")
    return " ".join(parts) + " ✕ marks where each stop fired (hover: reason, epoch, step)."


def rule_view_figure(studies: list[StudyData]):
    import plotly.graph_objects as go

    metric = studies[0].spec.stopping.delta_energy.metric
    fig = go.Figure(layout=style.base_layout(f"What the ΔE rule watches: {metric}", 560,
                                             xaxis=dict(title="epoch"), yaxis=dict(title=metric),
                                             hovermode="closest"))
    compare = len(studies) > 1
    for si, sd in enumerate(studies):
        rule = sd.spec.stopping.delta_energy
        for t in sd.trials:
            for run in t.runs:
                _draw_run(fig, sd, si, t.number, len(t.runs) > 1, run, rule, compare)
    if not fig.data:
        return style.message_figure(fig.layout.title.text, f"no run has logged {metric} to MLflow yet")
    grace = studies[0].spec.stopping.delta_energy.grace_epochs
    if grace:
        fig.add_vrect(x0=0, x1=grace, fillcolor="#999999", opacity=0.08, line_width=0,
                      annotation_text="grace", annotation_position="top left")
    return fig


def _draw_run(fig, sd: StudyData, si: int, number: int, seeds: bool, run: RunData, rule, compare: bool) -> None:
    import plotly.graph_objects as go

    xs, ys, _ = readings(run, rule.metric)
    if not xs:
        return
    who = f"{sd.name} trial {number}" + (f" seed {run.seed_index}" if seeds else "")
    group = f"{sd.name}:{run.ray_trial_id}"
    meta = {"study": sd.name, "trial": number, "seed_index": run.seed_index, "ray_trial_id": run.ray_trial_id,
            "outcome": run.outcome}
    lo, hi = band(rule, ys)
    colour = style.colour(run.outcome)
    fig.add_trace(go.Scatter(x=xs, y=lo, mode="lines", line=dict(width=0), legendgroup=group, showlegend=False,
                             hoverinfo="skip", meta={"study": sd.name, "of": run.ray_trial_id, "band": "low"}))
    fig.add_trace(go.Scatter(x=xs, y=hi, mode="lines", line=dict(width=0), fill="tonexty", fillcolor=colour,
                             opacity=0.12, legendgroup=group, showlegend=False, hoverinfo="skip",
                             meta={"study": sd.name, "of": run.ray_trial_id, "band": "high"}))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="lines+markers", name=(f"{sd.name} " if compare else "") + f"trial {number}"
        + (f" seed {run.seed_index}" if seeds else "") + f" ({style.label(run.outcome)})", legendgroup=group,
        line=dict(color=colour, dash=style.dash(si), width=1.4), marker=dict(size=3), meta=meta,
        hovertemplate=f"{who}<br>epoch %{{x:.2f}}<br>{rule.metric} %{{y:.4g}}<extra></extra>"))
    if run.stop_epoch is not None:
        y = next((v for x, v in zip(reversed(xs), reversed(ys)) if x <= run.stop_epoch + 1e-9 and v is not None), None)
        step = f", step {run.stop_step}" if run.stop_step is not None else ""
        fig.add_trace(go.Scatter(
            x=[run.stop_epoch], y=[y if y is not None else 0.0], mode="markers", legendgroup=group, showlegend=False,
            marker=dict(symbol=style.STOP_SYMBOL, size=12, color=colour, line=dict(width=2)),
            text=[f"{who}: {run.stop_reason} at epoch {run.stop_epoch:g}{step}"], hovertemplate="%{text}<extra></extra>",
            meta={"study": sd.name, "of": run.ray_trial_id, "stops": run.outcome, "stop_step": run.stop_step}))
