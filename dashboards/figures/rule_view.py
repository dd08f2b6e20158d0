"""The ΔE rule's view (issue 15): the statistic ``stopping.delta_energy`` watches, at the resolution the trials
reported it (every ``eval.report_every`` steps, else every epoch), with the rule's band median ± k·scale over the
previous w readings (``DeltaEnergyDivergence.band``: the one definition), a ✕ where each stop fired, and a
caption naming the statistic and the constants.

The traces are what the chart is for (issue 32: opaque bands once hid them). Each run's band is two thin dotted
edges in its colour with a light fill between them (alpha ``BAND_FILL_ALPHA``: many overlapping bands stay
see-through), drawn under every trace, and the y axis is fitted to the traces and stop marks, not to the bands:
a band wider than the chart runs off its edges instead of shrinking the traces to a flat line."""
from __future__ import annotations

from typing import Optional

from dashboards import style
from dashboards.data import RunData, StudyData, finite
from trainables.schema import records as R

BAND_FILL_ALPHA = 0.08  # one band's fill; n overlapping bands share BAND_FILL_TOTAL (the report test: each ≤ 0.15)
BAND_FILL_TOTAL = 0.25  # about the most their overlap may darken the chart: 1 - (1 - 0.25/n)^n < 0.23
BAND_EDGE_ALPHA = 0.55
Y_PAD = 0.15  # of the traces' span, above and below


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
    bands, lines = [], []
    for si, sd in enumerate(studies):
        rule = sd.spec.stopping.delta_energy
        for t in sd.trials:
            for run in t.runs:
                b, ln = _run_traces(sd, si, t.number, len(t.runs) > 1, run, rule, compare)
                bands += b
                lines += ln
    if not lines:
        return style.message_figure(fig.layout.title.text, f"no run has logged {metric} to MLflow yet")
    fills = [b for b in bands if b.fill == "tonexty"]
    alpha = min(BAND_FILL_ALPHA, BAND_FILL_TOTAL / max(len(fills), 1))
    for b in fills:
        b.fillcolor = b.fillcolor.rsplit(",", 1)[0] + f",{alpha:.3g})"
    fig.add_traces(bands + lines)  # every band under every trace
    y_range = _fit(lines)
    if y_range:
        fig.update_yaxes(range=y_range)
    grace = studies[0].spec.stopping.delta_energy.grace_epochs
    if grace:
        fig.add_vrect(x0=0, x1=grace, fillcolor="#999999", opacity=0.08, line_width=0, layer="below",
                      annotation_text="grace", annotation_position="top left")
    return fig


def _fit(traces) -> list[float] | None:
    """The y range of the traces and stop marks (bands left out), padded by ``Y_PAD`` of their span."""
    ys = [y for tr in traces for y in (tr.y or ()) if y is not None]
    if not ys:
        return None
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * Y_PAD or max(abs(hi), 1e-3) * Y_PAD
    return [lo - pad, hi + pad]


def rgba(hex_colour: str, alpha: float) -> str:
    """'#2ca02c', 0.06 -> 'rgba(44,160,44,0.06)'."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _run_traces(sd: StudyData, si: int, number: int, seeds: bool, run: RunData, rule, compare: bool):
    """(band traces, line traces) of one run: its band's two edges (the upper one filled down to the lower, only
    where the band is defined), its readings, and its stop mark."""
    import plotly.graph_objects as go

    xs, ys, _ = readings(run, rule.metric)
    if not xs:
        return [], []
    who = f"{sd.name} trial {number}" + (f" seed {run.seed_index}" if seeds else "")
    group = f"{sd.name}:{run.ray_trial_id}"
    meta = {"study": sd.name, "trial": number, "seed_index": run.seed_index, "ray_trial_id": run.ray_trial_id,
            "outcome": run.outcome}
    lo, hi = band(rule, ys)
    colour = style.colour(run.outcome)
    edge = dict(color=rgba(colour, BAND_EDGE_ALPHA), width=0.8, dash="dot")
    defined = [i for i, v in enumerate(lo) if v is not None]
    bands = []
    if defined:
        bx = [xs[i] for i in defined]
        bands = [
            go.Scatter(x=bx, y=[lo[i] for i in defined], mode="lines", line=edge, legendgroup=group,
                       showlegend=False, hoverinfo="skip", meta={"study": sd.name, "of": run.ray_trial_id, "band": "low"}),
            go.Scatter(x=bx, y=[hi[i] for i in defined], mode="lines", line=edge, fill="tonexty",
                       fillcolor=rgba(colour, BAND_FILL_ALPHA), legendgroup=group, showlegend=False,
                       hoverinfo="skip", meta={"study": sd.name, "of": run.ray_trial_id, "band": "high"}),
        ]
    lines = [go.Scatter(
        x=xs, y=ys, mode="lines+markers", name=(f"{sd.name} " if compare else "") + f"trial {number}"
        + (f" seed {run.seed_index}" if seeds else "") + f" ({style.label(run.outcome)})", legendgroup=group,
        line=dict(color=colour, dash=style.dash(si), width=1.8), marker=dict(size=4), meta=meta,
        hovertemplate=f"{who}<br>epoch %{{x:.2f}}<br>{rule.metric} %{{y:.4g}}<extra></extra>")]
    if run.stop_epoch is not None:
        y = next((v for x, v in zip(reversed(xs), reversed(ys)) if x <= run.stop_epoch + 1e-9 and v is not None), None)
        step = f", step {run.stop_step}" if run.stop_step is not None else ""
        lines.append(go.Scatter(
            x=[run.stop_epoch], y=[y if y is not None else 0.0], mode="markers", legendgroup=group, showlegend=False,
            marker=dict(symbol=style.STOP_SYMBOL, size=12, color=colour, line=dict(width=2)),
            text=[f"{who}: {run.stop_reason} at epoch {run.stop_epoch:g}{step}"], hovertemplate="%{text}<extra></extra>",
            meta={"study": sd.name, "of": run.ray_trial_id, "stops": run.outcome, "stop_step": run.stop_step}))
    return bands, lines
