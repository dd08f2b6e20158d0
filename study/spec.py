"""StudySpec: one YAML file = base run config + search space + stopping rules + resources.

Search parameters are dotted paths into the run config (``der.weight``, ``method.epsilon``);
each is checked against ``RunConfig`` at load time, so a typo fails before anything starts.
"""
from __future__ import annotations

import math

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from study.errors import UserError
from study.kinds import KINDS
from study.stopping.rules import DeltaEnergyDivergence, Degenerate, ProbeCollapse
from study.wording import one_line, show
from trainables import records as R
from trainables.config import RunConfig, with_overrides
from trainables.generation.config import GenerationConfig
from trainables.strict import Strict as _Strict
from trainables.strict import non_finite
from trainables.suggest import did_you_mean


def check_study_name(name: str) -> str:
    """A study name names folders, an MLflow experiment and an Optuna study: keep it plain."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ValueError(f"study name {name!r} must be letters, digits, '_', '-' or '.' (at most 100, starting with "
                         f"a letter or digit; no spaces or '/')")
    return name


class Uniform(_Strict):
    distribution: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be < high ({self.high})")
        return self


class LogUniform(Uniform):
    distribution: Literal["loguniform"]  # type: ignore[assignment]

    @model_validator(mode="after")
    def _positive(self):
        if self.low <= 0:
            raise ValueError(f"loguniform needs low > 0 (got {self.low}); use uniform for ranges that include 0")
        return self


class IntRange(_Strict):
    distribution: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be < high ({self.high})")
        return self


class Choice(_Strict):
    distribution: Literal["choice"]
    values: list[Any]

    @field_validator("values")
    @classmethod
    def _non_empty(cls, v):
        if not v:
            raise ValueError("choice needs at least one value")
        bad = non_finite(v)
        if bad:
            raise ValueError(f"item {bad} is not a finite number (infinity and NaN are not allowed); list finite "
                             f"values only")
        return v


Distribution = Annotated[Union[Uniform, LogUniform, IntRange, Choice], Field(discriminator="distribution")]


class SearchSpec(_Strict):
    parameters: dict[str, Distribution] = Field(default_factory=dict)
    num_samples: int = Field(8, ge=1, description="Configurations to try (Optuna trials).")
    seeds: int = Field(1, ge=1, description="Seeds per configuration (Ray trials per Optuna trial).")
    max_concurrent: int = Field(2, ge=1)
    # the selected checkpoint's masking-checked validation reading: a masked epoch is never selected (issue 14)
    metric: Union[str, list[str]] = R.BEST_VAL_ROBUST
    mode: Union[Literal["max", "min"], list[Literal["max", "min"]]] = "max"
    # grid: every combination of the (choice) parameters once, in a seeded order (num_samples ≤ the grid's size)
    sampler: Literal["auto", "tpe", "nsga2", "random", "grid"] = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _objectives(self):
        metrics = self.metrics
        modes = [self.mode] * len(metrics) if isinstance(self.mode, str) else list(self.mode)
        if len(modes) != len(metrics):
            raise ValueError(f"give one mode per metric: {len(metrics)} metric(s), {len(modes)} mode(s)")
        if len(metrics) > 2:
            raise ValueError("at most two objectives (e.g. val/pgd_acc and val/clean_acc)")
        if self.sampler == "nsga2" and len(metrics) < 2:
            raise ValueError("sampler nsga2 needs two metrics")
        if self.sampler == "grid":
            self._check_grid()
        return self

    def _check_grid(self) -> None:
        other = [p for p, d in self.parameters.items() if not isinstance(d, Choice)]
        if other:
            raise ValueError(f"sampler grid needs every parameter as {{distribution: choice, values: [...]}}; "
                             f"{', '.join(other)} is not")
        size = math.prod(len(d.values) for d in self.parameters.values())
        if self.num_samples > size:
            raise ValueError(f"sampler grid has {size} combinations; set num_samples to at most {size} "
                             f"(it is {self.num_samples})")

    @property
    def metrics(self) -> list[str]:
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    @property
    def modes(self) -> list[str]:
        return [self.mode] * len(self.metrics) if isinstance(self.mode, str) else list(self.mode)


class GenerationStudy(_Strict):
    """A generation study: searches generation knobs on one fixed classifier (FID as the objective)."""

    checkpoint: str = Field(..., description="best.pt / state.pt written by training, or a folder holding one.")
    data_root: Optional[str] = Field(None, description="Where the classifier's dataset is now, if it moved.")
    config: GenerationConfig = Field(default_factory=GenerationConfig)


class AshaRule(_Strict):
    enabled: bool = False
    metric: Optional[str] = None  # default: the first search metric
    grace_period: int = Field(2, ge=1)
    reduction_factor: float = Field(3.0, gt=1)


class StoppingSpec(_Strict):
    """The stopping rules (study.stopping.rules: each rule is its own config) and optional ASHA."""

    delta_energy: DeltaEnergyDivergence = Field(default_factory=DeltaEnergyDivergence)
    probe: ProbeCollapse = Field(default_factory=ProbeCollapse)
    degenerate: Degenerate = Field(default_factory=Degenerate)
    asha: AshaRule = Field(default_factory=AshaRule)


class ResourcesSpec(_Strict):
    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)
    max_failures: int = Field(1, ge=0, description="Retries of a crashed trial from its last checkpoint.")


class StudySpec(_Strict):
    name: str = "study"
    description: str = ""
    kind: Literal["train", "generate"] = Field("train", description="train: searches training runs; "
                                               "generate: searches generation knobs on a fixed classifier.")
    run: RunConfig = Field(default_factory=RunConfig)
    generation: Optional[GenerationStudy] = None
    search: SearchSpec = Field(default_factory=SearchSpec)
    stopping: StoppingSpec = Field(default_factory=StoppingSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_study_name(v)

    @model_validator(mode="after")
    def _parameters_fit_the_config(self):
        kind = KINDS[self.kind]
        base = kind.base(self)
        for m in self.search.metrics:
            if not kind.known_metric(m):
                raise ValueError(f"unknown metric {m!r} for a {self.kind} study{did_you_mean(m, kind.metric_names())}; "
                                 f"use {kind.metric_hint}")
        for path, dist in self.search.parameters.items():
            samples = dist.values if isinstance(dist, Choice) else [dist.low, dist.high]
            for value in samples:
                try:
                    with_overrides(base, {path: value})
                except (KeyError, ValidationError, ValueError) as e:
                    raise ValueError(f"search parameter {path!r} with value {show(value)} does not fit the "
                                     f"{kind.label}: {one_line(e, type(base))}") from None
        kind.check(self)
        return self


SPEC_KEYS = "keys run, search, stopping, resources"


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a YAML spec; every failure is a ``UserError`` naming the file and field."""
    from study.yamlio import read_mapping, validate

    if not Path(path).exists():
        raise UserError(f"spec file {path} does not exist; pass a YAML such as search_spaces/quickstart.yaml")
    raw = read_mapping(path, "spec file", SPEC_KEYS)
    stray = set(raw) - set(StudySpec.model_fields)
    if stray and stray <= set(RunConfig.model_fields):  # a run config (e.g. an exported one) given to `study run`
        raise UserError(f"spec file {path} looks like a run config, not a study spec (its keys {', '.join(sorted(stray))} "
                        f"belong under run:); train it once with `study train {path}`, or make it a spec: put those "
                        f"keys under `run:` and add a `search:` block (see search_spaces/quickstart.yaml)")
    return validate(raw, StudySpec, f"spec file {path}")


def spec_from_text(text: str, where: str) -> StudySpec:
    """A spec the platform stored itself (the catalog's copy), through the same strict parser."""
    from study.yamlio import parse_text, validate

    return validate(parse_text(text, where, SPEC_KEYS), StudySpec, where)
