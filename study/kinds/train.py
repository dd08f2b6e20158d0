"""Training studies: each trial trains a classifier; ΔE and probe rules (and optionally ASHA) stop it early."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from study.kinds.base import StudyKind
from trainables import records as R

if TYPE_CHECKING:
    from study.spec import StudySpec


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
        return per_epoch | {R.energy_key(s, k) for s in ("train", "val") for k in R.TRACE_STATS}

    def check(self, spec: StudySpec) -> None:
        if spec.search.parameters and not spec.run.data.val_size and any(
                m.startswith("val/") for m in spec.search.metrics):
            raise ValueError("the search metric is a validation metric but run.data.val_size is 0")

    def preflight(self, spec: StudySpec, local: bool) -> None:
        """Every run config of the search against its data (on a cluster the data may live on the workers only:
        then only what the dataset's published facts tell)."""
        from study.preflight import check_runs

        check_runs(spec, local)

    def shrink(self, spec: StudySpec) -> None:
        run = spec.run
        run.epochs = 2
        run.data.train_subset = min(run.data.train_subset or 512, 512)
        run.data.val_size = min(run.data.val_size, 128)
        run.data.test_subset = min(run.data.test_subset or 128, 128)
        run.eval.probe_size = min(run.eval.probe_size, 64)
        run.eval.autoattack = False
        run.eval.test_pgd = [(5, 1)]

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
        return policy_from_spec(st), [st.delta_energy.metric, st.probe.metric], inner

    def trainable(self) -> Callable:
        from trainables.tune import train_trial

        return train_trial

    def resolve(self, trial_config: dict[str, Any]):
        from trainables.tune import resolve_config

        return resolve_config(trial_config)

    def describe(self, spec: StudySpec) -> str:
        return f"{spec.run.epochs} epochs"

    def rerun_hint(self, spec: StudySpec, config_file: str, study_name: str, number: int) -> str:
        return f"exact resolved config of the trial; run it with: study train {config_file} --name {study_name}-trial{number}"
