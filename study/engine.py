"""Run and resume studies: Ray Tune runs the trials, Optuna proposes, our scheduler stops diverging ones.

``run_study`` validates everything first (no side effects on bad input), then records the study
in the catalog, opens the Optuna storage and the MLflow parent run, and hands Ray Tune the
trainable. ``resume_study`` restores the Tune experiment (trials resume from their checkpoints,
the searcher keeps its history) and reuses the parent run.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from study.catalog import Catalog, StudyRow
from study.errors import UserError
from study.kinds import KINDS
from study.options import StudyOptions
from study.spec import StudySpec
from study.urls import has_password, mask

log = logging.getLogger(__name__)


@dataclass
class StudyOutcome:
    name: str
    experiment_path: str
    num_errors: int
    reconciled: int


def smoke(spec: StudySpec) -> StudySpec:
    """Shrink a spec to 2 trials × 2 epochs on a tiny subset (a wiring check, < 60 s on 2 cores)."""
    s = copy.deepcopy(spec)
    s.search.num_samples, s.search.seeds, s.search.max_concurrent = 2, 1, 2
    KINDS[s.kind].shrink(s)
    return StudySpec.model_validate(s.model_dump())


def trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def _storage(url: str):
    from study.storage import open_storage

    return open_storage(url)


def _build_tuner_parts(spec: StudySpec, name: str, opts: StudyOptions, tracking):
    """Searcher, scheduler, callbacks and param space for a new study."""
    from study.progress import ProgressCallback
    from study.search import StudySearch, build_sampler, build_space
    from study.stopping.scheduler import DivergenceScheduler, StopReasonCallback

    se = spec.search
    metric = se.metrics if len(se.metrics) > 1 else se.metrics[0]
    mode = se.modes if len(se.modes) > 1 else se.modes[0]
    searcher = StudySearch(space=build_space(se.parameters), metric=metric, mode=mode,
                           sampler=build_sampler(se), study_name=name, storage=_storage(opts.optuna_storage),
                           seeds=se.seeds)
    kind = KINDS[spec.kind]
    policy, watched, inner = kind.stopping(spec)
    scheduler = DivergenceScheduler(policy, watched, inner)
    callbacks = [StopReasonCallback(), ProgressCallback(se.metrics)]
    study_cfg = {"name": name, "sinks": []}
    if tracking is not None:
        callbacks.append(tracking.driver_callback())
        study_cfg["sinks"].append(tracking.sink_spec())
    return searcher, scheduler, callbacks, {**kind.param_space(spec), "study": study_cfg}


def _trainable(spec: StudySpec):
    from ray import tune

    res = spec.resources
    return tune.with_resources(KINDS[spec.kind].trainable(), {"cpu": res.cpu, "gpu": res.gpu})


def run_study(spec: StudySpec, name: str, opts: StudyOptions) -> StudyOutcome:
    """Start a new study (validated inputs only; see ``study.options``)."""
    from ray import tune

    from study.cluster import init_ray
    from study.tracking import Tracking

    KINDS[spec.kind].preflight(spec, local=not opts.ray_address)  # bad inputs fail before anything is recorded
    opts.workspace.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.open(opts.workspace, create=True)
    if catalog.exists(name):
        raise UserError(f"study {name!r} already exists in {opts.workspace}; continue it with `study resume {name}` "
                        f"or choose another --name")
    experiment_path = _join(opts.storage_path, name)
    tracking = Tracking.start(opts, name, spec) if opts.mlflow_uri else None
    catalog.add(StudyRow(
        name=name, spec_yaml=yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), status="running",
        optuna_storage=opts.optuna_storage, optuna_study=name, mlflow_uri=opts.mlflow_uri,
        mlflow_parent_run_id=tracking.parent_run_id if tracking else None, storage_path=opts.storage_path,
        ray_address=opts.ray_address, num_trials=spec.search.num_samples * spec.search.seeds,
    ))
    searcher, scheduler, callbacks, param_space = _build_tuner_parts(spec, name, opts, tracking)
    init_ray(opts.ray_address, opts.num_cpus, opts.num_gpus, opts.verbose, tracking.worker_env() if tracking else None)
    tuner = tune.Tuner(
        _trainable(spec),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=spec.search.num_samples * spec.search.seeds,
            max_concurrent_trials=spec.search.max_concurrent, trial_dirname_creator=trial_dirname,
            reuse_actors=True,  # a worker runs trial after trial (imports, data, MLflow store once): trainables.worker
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=opts.storage_path, callbacks=callbacks, verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )
    return _finish(tuner, catalog, name, opts, experiment_path, spec, tracking)


def resume_study(name: str, opts: StudyOptions, optuna_storage: Optional[str] = None,
                 mlflow_uri: Optional[str] = None) -> StudyOutcome:
    """Continue an interrupted study: unfinished trials resume from their checkpoints."""
    from ray import tune

    from study.cluster import init_ray

    catalog = Catalog.open(opts.workspace)
    row = catalog.get(name)
    opts.optuna_storage = _unmasked(row.optuna_storage, optuna_storage, "--optuna-storage")
    if row.mlflow_uri:
        opts.mlflow_uri = _unmasked(row.mlflow_uri, mlflow_uri, "--mlflow-uri")
    opts.storage_path = row.storage_path
    opts.ray_address = opts.ray_address or row.ray_address
    spec = StudySpec.model_validate(yaml.safe_load(row.spec_yaml))
    experiment_path = _join(row.storage_path, name)
    if not tune.Tuner.can_restore(experiment_path):
        raise UserError(f"study {name!r} has no Ray Tune experiment state at {experiment_path} to resume "
                        f"(was it started with another --storage-path?)")
    from study.tracking import Tracking

    tracking = Tracking.reopen(opts.mlflow_uri, name, row.mlflow_parent_run_id) if row.mlflow_parent_run_id else None
    from study.storage import register_url

    register_url(opts.optuna_storage)  # Ray's pickled searcher holds the masked URL
    catalog.update(name, status="running")
    init_ray(opts.ray_address, opts.num_cpus, opts.num_gpus, opts.verbose, tracking.worker_env() if tracking else None)
    tuner = tune.Tuner.restore(experiment_path, trainable=_trainable(spec), resume_unfinished=True,
                               resume_errored=False)
    return _finish(tuner, catalog, name, opts, experiment_path, spec, tracking)


def _finish(tuner, catalog: Catalog, name: str, opts: StudyOptions, experiment_path: str, spec: StudySpec,
            tracking=None) -> StudyOutcome:
    from study.search import reconcile

    status = "interrupted"
    try:
        grid = tuner.fit()
        status = "finished"
        errors = len(grid.errors)
    finally:
        reconciled = reconcile(_storage(opts.optuna_storage), name) if status == "finished" else 0
        catalog.update(name, status=status)
        if tracking is not None:
            if status == "finished" and KINDS[spec.kind].registers_model:
                tracking.register_best(opts.optuna_storage, spec.search.metrics[0], spec.search.modes[0])
            tracking.finish("FINISHED" if status == "finished" else "KILLED")
    return StudyOutcome(name, experiment_path, errors, reconciled)


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if "://" in base else str(Path(base) / name)


def _unmasked(stored: str, given: Optional[str], flag: str) -> str:
    if given:
        if mask(given) != stored:
            raise UserError(f"{flag} {mask(given)} is not the store this study was created with ({stored})")
        return given
    if has_password(stored):
        raise UserError(f"the catalog keeps {stored} without its password; pass it again with {flag} URL (or put "
                        f"the password in PGPASSWORD / ~/.pgpass and use a URL without one)")
    return stored
