"""The study-kind registry: every kind a spec may name is implemented, and each resolves trial configs."""
import typing

from study.kinds import KINDS
from study.spec.spec import StudySpec


def test_every_spec_kind_has_an_implementation():
    assert set(typing.get_args(StudySpec.model_fields["kind"].annotation)) == set(KINDS)


def test_train_kind_resolves_what_a_worker_runs():
    spec = StudySpec.model_validate({"search": {"parameters": {"epochs": {"distribution": "int", "low": 2, "high": 4}}}})
    cfg = KINDS["train"].trial_config(spec, {"epochs": 3, "der.weight": 0.5}, seed_index=1)
    assert (cfg.epochs, cfg.der.weight, cfg.seed) == (3, 0.5, spec.run.seed + 1)


def test_generate_kind_resolves_what_a_worker_runs():
    spec = StudySpec.model_validate({"kind": "generate", "generation": {"checkpoint": "c.pt"},
                                     "search": {"metric": "gen/fid", "mode": "min"}})
    cfg = KINDS["generate"].trial_config(spec, {"init.sigma": 0.03}, seed_index=2)
    assert (cfg.init.sigma, cfg.seed) == (0.03, spec.generation.config.seed + 2)
