"""Optuna's parameter importances (fANOVA, seeded) per study and objective, as horizontal bars."""
from __future__ import annotations

from dashboards import style
from dashboards.data import StudyData

MIN_TRIALS = 2  # fANOVA needs at least two completed trials
FEW_TRIALS = 10  # below this the estimate is rough; say so


def importances(sd: StudyData) -> tuple[list[tuple[str, dict[str, float]]], list[str]]:
    """[(objective, {param: importance})] and notes; nothing is computed when it cannot be."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.trial import TrialState

    complete = [t for t in sd.optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not sd.parameters:
        return [], [f"{sd.name}: no search parameters"]
    if len(complete) < MIN_TRIALS:
        return [], [f"{sd.name}: parameter importances need at least {MIN_TRIALS} completed trials "
                    f"(it has {len(complete)})"]
    notes = []
    if len(complete) < FEW_TRIALS:
        notes.append(f"{sd.name}: only {len(complete)} completed trials; the importances are a rough estimate")
    if len(sd.parameters) == 1:
        notes.append(f"{sd.name}: one search parameter, so its importance is 1 by construction")
    out = []
    for i, m in enumerate(sd.metrics):
        try:
            imp = optuna.importance.get_param_importances(
                sd.optuna_study, evaluator=FanovaImportanceEvaluator(seed=0),
                target=(lambda t, i=i: t.values[i]) if len(sd.metrics) > 1 else None)
        except (RuntimeError, ValueError, ZeroDivisionError) as e:
            notes.append(f"{sd.name}: importances for {m} could not be computed ({e})")
            continue
        out.append((m, dict(imp)))
    return out, notes


def importance_figure(studies: list[StudyData]):
    import plotly.graph_objects as go

    title = "Parameter importances (Optuna, fANOVA)"
    fig = go.Figure(layout=style.base_layout(title, 420, barmode="group", xaxis=dict(title="importance", range=[0, 1]),
                                             yaxis=dict(automargin=True), showlegend=True))
    notes: list[str] = []
    bars = 0
    for sd in studies:
        per_objective, n = importances(sd)
        notes += n
        for m, imp in per_objective:
            params = sorted(imp, key=imp.get)
            fig.add_trace(go.Bar(x=[imp[p] for p in params], y=params, orientation="h",
                                 name=f"{sd.name}: {m}" if len(studies) > 1 else m,
                                 hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
            bars += len(params)
    fig.layout.height = min(900, 140 + 34 * max(bars, 2))
    if not fig.data:
        fig = style.message_figure(title, "<br>".join(notes) or "no importances")
    return fig, notes
