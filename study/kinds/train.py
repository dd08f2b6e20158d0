"""Training studies: each trial trains a classifier; ΔE and probe rules (and optionally ASHA) stop it early."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from study.kinds.base import StudyKind
from trainables.schema import records as R

if TYPE_CHECKING:
    from study.spec.spec import StudySpec


class TrainKind(StudyKind):
    name, label, section = "train", "run config", "run"
    varied = ("method", "der", "optim", "schedule", "epochs")
    registers_model = True
    metric_hint = (f"a per-epoch metric such as {R.VAL_PGD_ACC}, {R.VAL_CLEAN_ACC}, {R.PROBE_PGD_ACC} or "
                   f"{R.TRAIN_DELTA_MEAN}")

    def base(self, spec: StudySpec):
        return spec.run

    def metric_names(self) -> set[str]:
        per_epoch = {v for k, v in vars(R).items() if k.isupper() and isinstance(v, str) and "/" in v
                     and not v.startswith(R.GEN_PREFIX)}
        return per_epoch | {R.energy_key(s, k) for s in R.TRACE_SPLITS for k in R.TRACE_STATS}

    def check(self, spec: StudySpec) -> None:
        if spec.search.parameters and not spec.run.data.val_size and any(
                m.startswith("val/") for m in spec.search.metrics):
            raise ValueError("the search metric is a validation metric but run.data.val_size is 0")
        _check_evaluation_radius(spec)

    def preflight(self, spec: StudySpec, local: bool) -> None:
        """Every run config of the search against its data (on a cluster the data may live on the workers only:
        then only what the dataset's published facts tell)."""
        from study.kinds.preflight import check_runs

        check_runs(spec, local)

    def data_config(self, spec: StudySpec):
        return spec.run.data

    def with_data_root(self, config, root: str):
        if config.data.root:
            return config
        config = config.model_copy(deep=True)
        config.data.root = root
        return config

    def shrink(self, spec: StudySpec) -> None:
        run = spec.run
        run.epochs = 2
        run.data.train_subset = min(run.data.train_subset or 512, 512)
        run.data.val_size = min(run.data.val_size, 128)
        run.data.test_subset = min(run.data.test_subset or 128, 128)
        run.eval.probe_size = min(run.eval.probe_size, 64)
        run.eval.autoattack = False
        run.eval.test_pgd = [(5, 1)]
        spec.evaluation.trials = "as_configured"  # the reading just set: a wiring check, not a measurement
        spec.evaluation.answer.images = min(spec.evaluation.answer.images, 128)
        spec.evaluation.answer.pgd, spec.evaluation.answer.autoattack = [(5, 1)], "off"

    def param_space(self, spec: StudySpec) -> dict[str, Any]:
        """The run config every trial runs: the spec's, with its test reading set by ``evaluation.trials``."""
        from study.kinds.trial_eval import trial_run

        return {"run": trial_run(spec).model_dump(mode="json")}

    def stopping(self, spec: StudySpec):
        from study.stopping import policy_from_spec

        se, st, inner = spec.search, spec.stopping, None
        if st.asha.enabled:
            from ray.tune.schedulers import ASHAScheduler

            a = st.asha
            inner = ASHAScheduler(time_attr="epoch", metric=a.metric or se.metrics[0], mode=se.modes[0],
                                  max_t=spec.run.epochs, grace_period=a.grace_period,
                                  reduction_factor=a.reduction_factor,
                                  stop_last_trials=False)  # a trial at its last epoch ends by itself: COMPLETE
        policy = policy_from_spec(st)
        return policy, policy.watched, inner

    def trainable(self) -> Callable:
        from trainables.tune.trainable import train_trial

        return train_trial

    def resolve(self, trial_config: dict[str, Any]):
        from trainables.schema.trial import resolve_config

        return resolve_config(trial_config)

    def describe(self, spec: StudySpec) -> str:
        from study.kinds.trial_eval import describe

        return f"{spec.run.epochs} epochs, {describe(spec)}"

    def exported(self, config, study: str, number: int):
        """Every default the trial used written out, named ``<study>-trial<N>`` (its retrain's folder)."""
        from study.kinds.exported import export_name, fully_resolved

        return fully_resolved(config, export_name(study, number))

    def export_notes(self) -> list[str]:
        from study.kinds.exported import NULL_MEANING

        return [f"every default the trial used is written out; {NULL_MEANING}"]

    def rerun_hint(self, spec: StudySpec, config_file: str, study_name: str, number: int) -> str:
        from study.kinds.exported import export_name

        return (f"the config the trial ran, resolved; retrain it with: study train {config_file} --epochs N "
                f"(it trains into runs/{export_name(study_name, number)}; without --epochs, for the trial's epochs)")


# training field searched -> the evaluation field that must then be fixed in the run config
_EVAL_FIXED_BY = {"method.epsilon": ("eval.epsilon", "epsilon"), "method.norm": ("eval.norm", "norm")}


def _check_evaluation_radius(spec: StudySpec) -> None:
    """Trials of one study must be scored at one evaluation radius: searching the training radius (or norm)
    with the evaluation following it would score each trial at its own ε and favour the smallest by
    construction; searching the evaluation radius itself compares readings that are not comparable."""
    searched = set(spec.search.parameters)
    for path in sorted(searched & {"eval.epsilon", "eval.norm"}):
        raise ValueError(f"the search varies {path}, the radius (or norm) every trial is scored at, so the "
                         f"objective would compare readings at different radii; set run.{path} to the one "
                         f"value you report robustness at and search method.{path.split('.')[1]} instead")
    for path, (fixed, field) in _EVAL_FIXED_BY.items():
        if path in searched and getattr(spec.run.eval, field) is None:
            raise ValueError(
                f"the search varies {path} but run.{fixed} is not set, so every trial would be evaluated at its "
                f"own training {field} and the search would favour the smallest one by construction (a smaller "
                f"ball is easier to defend). Set run.{fixed} to the {field} you report robustness at, e.g. "
                f"`run: {{eval: {{{field}: {8 if field == 'epsilon' else repr('linf')}}}}}` (ε in 1/255 units), "
                f"so every trial is scored at that one {field}")
