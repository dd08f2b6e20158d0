"""Run and resume studies: Ray Tune runs the trials, Optuna proposes, our scheduler stops diverging ones.

``run_study`` validates everything first (no side effects on bad input), then records the study
in the catalog, opens the Optuna storage and the MLflow parent run, and hands Ray Tune the
trainable. ``resume_study`` restores the Tune experiment (trials resume from their checkpoints,
the searcher keeps its history) and reuses the parent run.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from study.console import logs
from study.stores.catalog import CATALOG_FILE, Catalog, StudyRow
from study.run.dataroot import resolved
from study.errors import UserError
from study.run.failures import Failures
from study.console.faults import set_context
from study.kinds import KINDS
from study.run.options import StudyOptions
from study.spec.spec import StudySpec
from study.stores.urls import unmasked_url

log = logging.getLogger(__name__)


@dataclass
class StudyOutcome:
    name: str
    experiment_path: str
    num_errors: int
    reconciled: int
    failures: Failures = field(default_factory=Failures)
    log_file: Optional[Path] = None
    status: str = "finished"  # "failed" (every trial failed) or "interrupted" (Ctrl-C / SIGTERM: `study resume`)
    resumed: bool = True  # False: `study resume` found the study finished and did nothing
    fault: Optional[str] = None  # the paragraph of a fault of the surroundings that stopped it (study.run.faultwatch)


def smoke(spec: StudySpec) -> StudySpec:
    """Shrink a spec to 2 trials × 2 epochs on a tiny subset (a wiring check, < 60 s on 2 cores)."""
    s = copy.deepcopy(spec)
    s.search.num_samples, s.search.seeds, s.search.max_concurrent = 2, 1, 2
    KINDS[s.kind].shrink(s)
    return StudySpec.model_validate(s.model_dump())


def trial_dirname(trial) -> str:
    from study.stores.workspace import trial_folder_name

    return trial_folder_name(trial.trial_id)


def _storage(url: str):
    from study.search.storage import open_storage

    return open_storage(url)


def _build_tuner_parts(spec: StudySpec, name: str, opts: StudyOptions, tracking):
    """Searcher, scheduler, callbacks and param space for a new study."""
    from study.run.progress import ProgressCallback
    from study.search.search import StudySearch, build_sampler, build_space
    from study.stopping.scheduler import DivergenceScheduler

    se = spec.search
    metric = se.metrics if len(se.metrics) > 1 else se.metrics[0]
    mode = se.modes if len(se.modes) > 1 else se.modes[0]
    searcher = StudySearch(space=build_space(se.parameters), metric=metric, mode=mode,
                           sampler=build_sampler(se), study_name=name, storage=_storage(opts.optuna_storage),
                           seeds=se.seeds)
    kind = KINDS[spec.kind]
    policy, watched, inner = kind.stopping(spec)
    scheduler = DivergenceScheduler(policy, watched, inner)
    from study.run.faultwatch import FaultWatch

    callbacks = [scheduler.recorder, ProgressCallback(se.metrics, getattr(kind.base(spec), "epochs", None)),
                 FaultWatch()]
    study_cfg = {"name": name, "sinks": []}
    if tracking is not None:
        callbacks.append(tracking.driver_callback())
        study_cfg["sinks"].append(tracking.sink_spec())
    return searcher, scheduler, callbacks, {**kind.param_space(spec), "study": study_cfg}


def _trainable(spec: StudySpec):
    from ray import tune

    res = spec.resources
    return tune.with_resources(KINDS[spec.kind].trainable(), {"cpu": res.cpu, "gpu": res.gpu})


def check_new(spec: StudySpec, name: str, opts: StudyOptions) -> None:
    """Everything that refuses a new study before Ray starts, without creating or changing anything
    (study.run.preflight: the resource request, a local Ray's capacity, the data of every searched config)."""
    import ray

    from study.run.preflight import check_cluster, check_request, local_node

    local = not opts.ray_address
    check_request(spec)
    if local and not ray.is_initialized():  # refuse in seconds, before a local Ray is even started
        check_cluster(spec, local, [local_node(opts.num_cpus, opts.num_gpus)])
    KINDS[spec.kind].preflight(spec, local=local)
    if (opts.workspace / CATALOG_FILE).is_file() and Catalog.open(opts.workspace).exists(name):
        raise UserError(f"study {name!r} already exists in {opts.workspace}; continue it with `study resume {name}` "
                        f"or choose another --name")


def run_study(spec: StudySpec, name: str, opts: StudyOptions) -> StudyOutcome:
    """Start a new study (validated inputs only; see ``study.run.options``).

    The study enters the catalog only when its trials are about to start: a failure or a Ctrl-C
    before that leaves no half-made study behind (its MLflow parent run is closed as KILLED), so the
    same command can simply be run again.
    """
    from ray import tune

    from study.tracking import Tracking

    set_context(opts.workspace, opts.optuna_storage, opts.mlflow_uri, opts.storage_path)  # for a fault's paragraph
    prepare(spec, name, opts)  # bad inputs fail before anything is recorded
    opts.workspace.mkdir(parents=True, exist_ok=True)
    logs.to_file(logs.log_path(opts.workspace, name), opts.verbose)  # library output and tracebacks (Ray's too)
    catalog = Catalog.open(opts.workspace, create=True)
    experiment_path = _join(opts.storage_path, name)
    tracking = Tracking.start(opts, name, spec) if opts.mlflow_uri else None
    try:
        searcher, scheduler, callbacks, param_space = _build_tuner_parts(spec, name, opts, tracking)
        tuner = tune.Tuner(
            _trainable(spec),
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=_total(spec),
                max_concurrent_trials=spec.search.max_concurrent, trial_dirname_creator=trial_dirname,
                reuse_actors=True,  # a worker runs trial after trial (imports, data, MLflow store once): trainables.tune.worker
            ),
            run_config=tune.RunConfig(
                name=name, storage_path=opts.storage_path, callbacks=callbacks, verbose=0,
                failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            ),
        )
        catalog.add(StudyRow(
            name=name, spec_yaml=yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), status="running",
            optuna_storage=opts.optuna_storage, optuna_study=name, mlflow_uri=opts.mlflow_uri,
            mlflow_parent_run_id=tracking.parent_run_id if tracking else None, storage_path=opts.storage_path,
            ray_address=opts.ray_address, num_trials=_total(spec), data_root=resolved(spec),
        ))
    except BaseException:
        if tracking is not None:
            tracking.finish("KILLED")
        raise
    return _finish(tuner, catalog, name, opts, experiment_path, spec, tracking)


def _total(spec: StudySpec) -> int:
    """Ray trials a study runs: configurations × seeds."""
    return spec.search.num_samples * spec.search.seeds


def prepare(spec: StudySpec, name: str, opts: StudyOptions) -> None:
    """``check_new``, then start (or join) Ray and refuse a resource request no node of it can satisfy
    (study.run.preflight): everything a new study can be refused for, with nothing recorded. Idempotent."""
    check_new(spec, name, opts)
    _start_ray(spec, opts)


def _start_ray(spec: StudySpec, opts: StudyOptions) -> None:
    """Start (or join) Ray and refuse a resource request no node of it can satisfy (study.run.preflight)."""
    import ray

    from study.run.cluster import init_ray
    from study.run.preflight import check_cluster
    from study.tracking.driver import worker_env

    started = init_ray(opts.ray_address, opts.num_cpus, opts.num_gpus, opts.verbose,
                       worker_env(opts.mlflow_uri) if opts.mlflow_uri else None)
    try:
        check_cluster(spec, not opts.ray_address)
    except UserError:
        if started:
            ray.shutdown()
        raise


def resume_study(name: str, opts: StudyOptions, optuna_storage: Optional[str] = None,
                 mlflow_uri: Optional[str] = None) -> StudyOutcome:
    """Continue an interrupted study: unfinished trials resume from their checkpoints."""
    from ray import tune

    from study.run.cluster import init_ray

    catalog = Catalog.open(opts.workspace)
    row = catalog.get(name)
    if row.status == "finished":  # nothing to continue: change nothing (no new model version either)
        return StudyOutcome(name, _join(row.storage_path, name), 0, 0, status="finished", resumed=False)
    opts.optuna_storage = unmasked_url(row.optuna_storage, optuna_storage, "--optuna-storage")
    if row.mlflow_uri:
        opts.mlflow_uri = unmasked_url(row.mlflow_uri, mlflow_uri, "--mlflow-uri")
    opts.storage_path = row.storage_path
    opts.ray_address = opts.ray_address or row.ray_address
    set_context(opts.workspace, opts.optuna_storage, opts.mlflow_uri, opts.storage_path)
    spec = row.spec()
    experiment_path = _join(row.storage_path, name)
    if not tune.Tuner.can_restore(experiment_path):
        raise UserError(f"study {name!r} has no Ray Tune experiment state at {experiment_path} to resume "
                        f"(was it started with another --storage-path?)")
    from study.run.preflight import check_cluster
    from study.search.storage import register_url
    from study.tracking import Tracking
    from study.tracking.driver import worker_env

    init_ray(opts.ray_address, opts.num_cpus, opts.num_gpus, opts.verbose,
             worker_env(opts.mlflow_uri) if opts.mlflow_uri else None)
    check_cluster(spec, local=not opts.ray_address)
    logs.to_file(logs.log_path(opts.workspace, name), opts.verbose)
    tracking = Tracking.reopen(opts.mlflow_uri, name, row.mlflow_parent_run_id) if row.mlflow_parent_run_id else None
    register_url(opts.optuna_storage)  # Ray's pickled searcher holds the masked URL
    catalog.update(name, status="running")
    tuner = _restore(experiment_path, spec)
    return _finish(tuner, catalog, name, opts, experiment_path, spec, tracking)


def _restore(experiment_path: str, spec: StudySpec):
    """Ray Tune's experiment, restored; its state files cut short (a disk that failed or filled while Ray wrote
    them, which Ray does without a rename) end in one paragraph instead of an unpickling traceback."""
    import json
    import pickle

    from ray import tune

    from study.errors import Fault

    try:
        return tune.Tuner.restore(experiment_path, trainable=_trainable(spec), resume_unfinished=True,
                                  resume_errored=False)
    except (EOFError, pickle.UnpicklingError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Fault(f"Ray Tune's saved state of this study in {experiment_path} is cut short ({type(e).__name__}: "
                    f"{e}), most likely by a disk that failed or filled while Ray wrote it; the study cannot continue "
                    f"from it. What it finished is kept: Optuna's trials, their MLflow runs and checkpoints (`study "
                    f"status`, `study export` and `study report` read them). Fix: restore {experiment_path} from a "
                    f"backup, or start the remaining work as a new study (--name)") from e


def _finish(tuner, catalog: Catalog, name: str, opts: StudyOptions, experiment_path: str, spec: StudySpec,
            tracking=None) -> StudyOutcome:
    from study.console import faults
    from study.run import faultwatch, interrupt
    from study.run.failures import from_results
    from study.search.search import reconcile

    status, failures, reconciled = "interrupted", Failures(), 0
    faultwatch.reset()
    interrupt.set_abandon(lambda: Catalog.open(opts.workspace).update(name, status="interrupted"))
    fit_error: Optional[BaseException] = None
    try:
        grid = tuner.fit()  # on Ctrl-C Ray Tune stops the trials, saves its state and returns early
        if faultwatch.last() is None and len(grid) >= _total(spec) and \
                grid.num_terminated + grid.num_errors == len(grid) and _all_ended(experiment_path, _total(spec)):
            failures = from_results(grid)
            status = "failed" if failures.all_failed else "finished"
    except BaseException as e:
        fit_error = e
        raise
    finally:
        interrupt.set_abandon(None)
        try:
            reconciled = reconcile(_storage(opts.optuna_storage), name) if status != "interrupted" else 0
            catalog.update(name, status=status)
            if tracking is not None:
                if status == "finished" and KINDS[spec.kind].registers_model:
                    tracking.register_best(opts.optuna_storage, spec.search.metrics[0], spec.search.modes[0])
                tracking.finish({"finished": "FINISHED", "failed": "FAILED"}.get(status, "KILLED"))
        except Exception:  # noqa: BLE001
            if fit_error is None:
                raise
            # the fault that stopped fit (a full disk, a locked database) is the one to report, not its echo here
            log.exception("could not record the end of study %s", name)
    fault = faultwatch.last()
    return StudyOutcome(name, experiment_path, failures.failed, reconciled, failures,
                        logs.log_path(opts.workspace, name), status=status,
                        fault=faults.paragraph(fault) if fault is not None else None)


def _all_ended(experiment_path: str, total: int) -> bool:
    """Whether the experiment state Ray Tune saved last holds every planned trial, each TERMINATED or ERROR.

    ``fit``'s own results cannot tell: when it stops on Ctrl-C or SIGTERM, Ray Tune saves its state (trials
    in flight RUNNING) and then marks every trial in flight TERMINATED in memory, so a study interrupted
    after its last trial started (every trial in its final test evaluation, say) would look finished, and its
    trials in flight would be marked failed (issue 31). The saved state is what `study resume` continues from."""
    from ray.tune import ExperimentAnalysis

    try:
        trials = ExperimentAnalysis(experiment_path).trials
    except Exception:  # noqa: BLE001 - no readable state: treat as unfinished, `study resume` will tell
        log.warning("could not read the experiment state at %s", experiment_path, exc_info=True)
        return False
    return len(trials) >= total and all(t.status in ("TERMINATED", "ERROR") for t in trials)


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if "://" in base else str(Path(base) / name)
