"""The interface of a study kind: everything the engine, the CLI and export must know that differs
between searching training runs and searching generation knobs (as Optuna's samplers sit behind
BaseSampler, so callers never branch on which one they hold)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from pydantic import BaseModel

    from study.spec.spec import StudySpec


class StudyKind(ABC):
    name: str
    label: str  # what the base config is called in error messages
    section: str  # the spec field copied into every trial's config under the same key
    varied: tuple[str, ...]  # config sections the run summary prints for the best trial
    registers_model: bool  # whether the best trial's model goes to the MLflow registry
    metric_hint: str  # the metrics a search may optimise, for the unknown-metric error

    @abstractmethod
    def base(self, spec: StudySpec) -> BaseModel:
        """The config the search parameters override and trial seeds count from (ValueError if missing)."""

    @abstractmethod
    def metric_names(self) -> set[str]:
        """The metrics a trial of this kind reports (a search may optimise them)."""

    def known_metric(self, name: str) -> bool:
        return name in self.metric_names()

    def check(self, spec: StudySpec) -> None:
        """Kind-specific spec validation after the generic checks (ValueError)."""

    @abstractmethod
    def preflight(self, spec: StudySpec, local: bool) -> None:
        """Inputs that must be usable before anything is recorded; ``local``: no Ray cluster address."""

    @abstractmethod
    def shrink(self, spec: StudySpec) -> None:
        """Make a copied spec a quick wiring check (``study run --smoke``), in place."""

    @abstractmethod
    def stopping(self, spec: StudySpec) -> tuple[Any, list[str], Any]:
        """(stopping policy, watched metrics, inner Ray scheduler or None) for DivergenceScheduler."""

    @abstractmethod
    def trainable(self) -> Callable:
        """The Ray Tune function trainable (imported lazily: it needs Ray)."""

    @abstractmethod
    def resolve(self, trial_config: dict[str, Any]) -> BaseModel:
        """The exact config a worker resolves from its trial config (what export writes)."""

    @abstractmethod
    def describe(self, spec: StudySpec) -> str:
        """What one trial does, for the study's first line of output."""

    @abstractmethod
    def rerun_hint(self, spec: StudySpec, config_file: str, study_name: str, number: int) -> str:
        """How to run an exported config by hand."""

    def data_config(self, spec: StudySpec) -> Any:
        """The ``trainables.schema.config.DataConfig`` the trials read, if the kind reads a dataset by config."""
        return None

    def with_data_root(self, config: BaseModel, root: str) -> BaseModel:
        """An exported trial config that names ``root`` as its data root when it named none."""
        return config

    def exported(self, config: BaseModel, study: str, number: int) -> BaseModel:
        """The config ``study export`` writes for trial ``number``: the one it ran, here as is."""
        return config

    def export_notes(self) -> list[str]:
        """Lines the export header adds about every config of this kind."""
        return []

    def param_space(self, spec: StudySpec) -> dict[str, Any]:
        return {self.section: getattr(spec, self.section).model_dump(mode="json")}

    def trial_config(self, spec: StudySpec, params: dict[str, Any], seed_index: int) -> BaseModel:
        """The exact config a Ray worker resolved for these sampled params and seed index."""
        from trainables.schema.trial import SEED_INDEX

        return self.resolve({**self.param_space(spec), **params, SEED_INDEX: seed_index})
