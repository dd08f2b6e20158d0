"""``study status``: one row per Optuna trial, read from the study's Optuna storage (``study.results.reading`` finds it)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class TrialRow:
    number: int
    state: str
    stop_reason: Optional[str]
    epochs: Optional[float]  # epochs trained (fractional when a window report stopped the trial)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    ray_trial_ids: list[str] = field(default_factory=list)
    stop_step: Optional[int] = None  # the global step of the (first seed's) stop
    answer: dict = field(default_factory=dict)  # its test reading as the study's answer (``study.results.answer``), if read

    def as_dict(self) -> dict:
        return asdict(self)


def trial_rows(storage_url: str, study_name: str) -> list[TrialRow]:
    from study.results.reading import load_optuna_study
    from study.search.search import TrialAttrs

    from study.results.answer import read_answer

    study = load_optuna_study(storage_url, study_name)
    answer = read_answer(study)
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = TrialAttrs.of(t)
        metrics = dict(attrs.metrics)
        if not metrics and t.intermediate_values:
            step = max(t.intermediate_values)
            metrics["last_intermediate"] = t.intermediate_values[step]
        rows.append(TrialRow(
            number=t.number, state=t.state.name, stop_reason=attrs.stop_reason,
            epochs=attrs.last_epoch if attrs.last_epoch is not None else (
                max(t.intermediate_values) if t.intermediate_values else None),
            params=dict(t.params), metrics=metrics, ray_trial_ids=list(attrs.ray_trial_ids),
            stop_step=attrs.stop_step,
            answer=_answer_of(answer, t.number),
        ))
    return rows


def _answer_of(answer: dict, number: int) -> dict:
    """A trial's entry in the study's answer, with the answer's settings (empty when it was not read)."""
    entry = answer.get("trials", {}).get(str(number))
    if not entry:
        return {}
    return {**entry, **{k: answer.get(k) for k in ("settings", "ranked_by", "updated")}}


def answer_of_rows(rows) -> dict:
    """The study's answer put back together from its trial rows ({} when none was read)."""
    read = [r for r in rows if r.answer]
    if not read:
        return {}
    first = read[0].answer
    return {**{k: first.get(k) for k in ("settings", "ranked_by", "updated")},
            "trials": {str(r.number): r.answer for r in read}}
