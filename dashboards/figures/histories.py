"""Per-epoch curves of every run (eval-mode ΔE on the probe batch, validation PGD accuracy), coloured by
outcome, with a ✕ at the epoch where a run was stopped. Studies being compared get their own dash. The
training ΔE the stopping rule watches has its own panel (``rule_view``)."""
from __future__ import annotations

from dashboards import style
from dashboards.data import StudyData, finite
from trainables.schema import records as R


def history_figure(studies: list[StudyData], key: str, title: str, ytitle: str, zero_line: bool = False):
    """One line per run of ``key``'s per-epoch history; an accuracy is drawn in % (``style.is_percent``)."""
    import plotly.graph_objects as go

    scale = 100.0 if style.is_percent(key) else 1.0
    if scale != 1.0:
        ytitle = f"{ytitle} (%)"
    value = "%{y:.1f}%" if scale != 1.0 else "%{y:.4g}"
    fig = go.Figure(layout=style.base_layout(title, 520, xaxis=dict(title="epoch", dtick=1),
                                             yaxis=dict(title=ytitle), hovermode="closest"))
    compare = len(studies) > 1
    shown: set[str] = set()
    for si, sd in enumerate(studies):
        stops: dict[str, tuple[list, list, list]] = {}
        for t in sd.trials:
            for run in t.runs:
                points = run.history.get(key, [])
                if not points:
                    continue
                group = f"{sd.name}:{run.outcome}" if compare else run.outcome
                who = f"{sd.name} trial {t.number}" + (f" seed {run.seed_index}" if len(t.runs) > 1 else "")
                fig.add_trace(go.Scatter(
                    x=[int(s) for s, _ in points], y=[style.scaled(v, scale) for _, v in points], mode="lines+markers",
                    name=(f"{sd.name}: " if compare else "") + style.label(run.outcome), legendgroup=group,
                    showlegend=group not in shown,
                    line=dict(color=style.colour(run.outcome), dash=style.dash(si), width=1.6),
                    marker=dict(size=4), opacity=0.85,
                    meta={"study": sd.name, "trial": t.number, "seed_index": run.seed_index,
                          "ray_trial_id": run.ray_trial_id, "outcome": run.outcome},
                    hovertemplate=f"{who} ({style.label(run.outcome)})<br>epoch %{{x}}<br>{ytitle} {value}"
                                  "<extra></extra>",
                ))
                shown.add(group)
                if run.stop_epoch is not None:
                    y = _value_at(points, run.stop_epoch) * scale
                    xs, ys, texts = stops.setdefault(run.outcome, ([], [], []))
                    xs.append(run.stop_epoch)
                    ys.append(y)
                    texts.append(f"{who}: {run.stop_reason} at epoch {run.stop_epoch:g}")
        for outcome, (xs, ys, texts) in stops.items():
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="markers", name="stop epoch",
                legendgroup=f"{sd.name}:{outcome}" if compare else outcome,
                showlegend=False, text=texts, hovertemplate="%{text}<extra></extra>",
                marker=dict(symbol=style.STOP_SYMBOL, size=12, color=style.colour(outcome), line=dict(width=2)),
                meta={"study": sd.name, "stops": outcome},
            ))
    if not fig.data:
        return style.message_figure(title, f"no run has logged {key} to MLflow yet")
    if zero_line:
        fig.add_hline(y=0, line_width=1, line_color="#999999")
    return fig


def _value_at(points: list[tuple[int, float]], epoch: int):
    """The curve's value at the stop epoch, else its last finite value (a NaN run has none at the stop)."""
    for s, v in points:
        if s == epoch and finite(v) is not None:
            return finite(v)
    vals = [finite(v) for s, v in points if s <= epoch and finite(v) is not None]
    return vals[-1] if vals else 0.0


def probe_delta_energy_figure(studies: list[StudyData]):
    return history_figure(studies, R.PROBE_DELTA_MEAN, "ΔE on the probe batch per epoch (eval mode)",
                          "ΔE = E(x) − E(x*) (probe mean, eval mode)", zero_line=True)


def val_pgd_figure(studies: list[StudyData]):
    return history_figure(studies, R.VAL_PGD_ACC, "Validation PGD accuracy per epoch", "val PGD accuracy")
