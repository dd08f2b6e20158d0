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
from study.errors.wording import one_line, show
from trainables.schema import records as R
from trainables.schema.config import RunConfig, with_overrides
from trainables.schema.generation import GenerationConfig
from trainables.schema.strict import Strict as _Strict
from trainables.schema.strict import non_finite
from trainables.schema.suggest import did_you_mean


def check_study_name(name: str) -> str:
    """A study name names folders, an MLflow experiment and an Optuna study: keep it plain."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ValueError(f"study name {name!r} must be letters, digits, '_', '-' or '.' (at most 100, starting with "
                         f"a letter or digit; no spaces or '/')")
    return name


class _Range(_Strict):
    """A range from ``low`` to ``high`` (its subclasses give the fields their types)."""

    def probes(self) -> list:
        """The values a check tries before anything runs (validation, pre-flight): the range's bounds."""
        return [self.low, self.high]

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be < high ({self.high})")
        return self


class Uniform(_Range):
    distribution: Literal["uniform"]
    low: float
    high: float


class LogUniform(Uniform):
    distribution: Literal["loguniform"]  # type: ignore[assignment]

    @model_validator(mode="after")
    def _positive(self):
        if self.low <= 0:
            raise ValueError(f"loguniform needs low > 0 (got {self.low}); use uniform for ranges that include 0")
        return self


class IntRange(_Range):
    distribution: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)


class Choice(_Strict):
    distribution: Literal["choice"]
    values: list[Any]

    def probes(self) -> list:
        """The values a check tries before anything runs (validation, pre-flight): every choice."""
        return list(self.values)

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


class AnswerSpec(_Strict):
    """The study's answer (``study/results/evaluate.py``): the strong test reading of its best configurations, run once
    on their selected checkpoints (``best.pt``, every seed) instead of on every trial. What it costs on 2 CPU
    cores, and why it is not read per trial: README, "Writing a study"."""

    top: int = Field(1, ge=0, description="Configurations read at the study's end, best first by the search metric "
                     "on validation (0: none; `study evaluate NAME --top K` reads more, or later).")
    images: int = Field(1000, ge=1, description="Test images read: the first N of the test set (RobustBench: 1,000).")
    pgd: list[tuple[int, int]] = Field(default_factory=lambda: [(50, 10)],
                                       description="(steps, restarts) of each PGD reading; [] for none.")
    autoattack: Literal["standard", "apgd", "off"] = Field(
        "standard", description="standard: fra31's AutoAttack (APGD-CE, APGD-T, FAB-T, Square); apgd: APGD-CE + "
        "APGD-T only, reported as apgd_ce_t_acc; off: none.")
    at_end: Literal["pgd", "full"] = Field(
        "pgd", description="What the study's end reads: pgd: clean and the PGD readings (seconds on 2 CPU cores); "
        "full: AutoAttack too (minutes on 2 CPU cores: README, 'What evaluation costs'). `study evaluate` always "
        "reads it all.")

    @field_validator("pgd")
    @classmethod
    def _steps(cls, v: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if any(s < 1 or r < 1 for s, r in v):
            raise ValueError("each PGD reading is [steps, restarts], both at least 1, e.g. [[50, 10]]")
        return v


class EvaluationSpec(_Strict):
    """What a study reads on the test set (issue 32). Every trial is selected and compared on validation; the
    test set is read cheaply per trial (or not at all) and strongly once, for the study's answer."""

    trials: Literal["cheap", "off", "as_configured"] = Field(
        "cheap", description="Each trial's own test reading at its end. cheap: clean and PGD-20 (1 restart) on the "
        "first trial_images test images, best and last weights; off: none; as_configured: run.eval as written "
        "(test_pgd, autoattack: the heavy single-run defaults).")
    trial_images: int = Field(500, ge=1, description="cheap: test images each trial reads.")
    answer: AnswerSpec = Field(default_factory=AnswerSpec)


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
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

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
            _known_path(base, path, kind.label)
            for value in dist.probes():
                try:
                    with_overrides(base, {path: value})
                except (KeyError, ValidationError, ValueError) as e:
                    raise ValueError(f"search parameter {path!r} with value {show(value)} does not fit the "
                                     f"{kind.label}: {one_line(e, type(base))}") from None
        kind.check(self)
        return self


def _known_path(base, path: str, label: str) -> None:
    """A search parameter must name a field of the base config; a typo is said as one (never with a value)."""
    from study.errors.wording import FixableError
    from trainables.schema.suggest import did_you_mean

    dumped = base.model_dump()
    for i, part in enumerate(path.split(".")):
        if not isinstance(dumped, dict) or part not in dumped:
            where = ".".join(path.split(".")[:i]) or f"the {label}"
            keys = sorted(dumped) if isinstance(dumped, dict) else []
            hint = did_you_mean(path, _paths(base.model_dump()))
            fix = (f"rename it under search.parameters to a dotted path of the {label}"
                   + (f", e.g. {hint.split(chr(39))[1]}" if "'" in hint else "")
                   + (f"; the keys of {where} are: {', '.join(keys)}" if keys else ""))
            raise FixableError(f"search parameter {path!r} is not a field of the {label}{hint}", fix)
        dumped = dumped[part]


def _paths(node: dict, prefix: str = ""):
    for k, v in node.items():
        yield prefix + k
        if isinstance(v, dict):
            yield from _paths(v, f"{prefix}{k}.")


SPEC_KEYS = "keys run, search, stopping, resources, evaluation"
# A study stored before issue 32 has no evaluation block: it ran its trials' test reading as its run config
# said and had no answer reading at its end; reading it back must not change either.
AS_STORED_BEFORE_32 = {"trials": "as_configured", "answer": {"top": 0}}


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a YAML spec; every failure is a ``UserError`` naming the file and field."""
    from study.spec.yamlio import read_mapping, validate

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
    from study.spec.yamlio import parse_text, validate

    raw = parse_text(text, where, SPEC_KEYS)
    raw.setdefault("evaluation", AS_STORED_BEFORE_32)
    return validate(raw, StudySpec, where)
