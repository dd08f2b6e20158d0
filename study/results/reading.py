"""Reading a study: its catalog row and usable store URLs, its Optuna study, its MLflow child runs.

``study export``, ``study status`` and the report (``dashboards.data``) read a study through these
helpers, so all of them find the same study, ask again for a masked password the same way, and
name a trial's stop reasons and config the same way. Nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from study.kinds import KINDS

FIRST_SEED_INDEX = 0  # the seed whose config export writes and the report shows


@dataclass
class StudyHandle:
    """A study found in a workspace's catalog, with its spec and usable (unmasked) store URLs."""

    name: str
    spec: Any  # study.spec.spec.StudySpec
    optuna_url: str
    optuna_study: str
    mlflow_uri: Optional[str]
    mlflow_parent_run_id: Optional[str]
    status: str
    data_root: Optional[str] = None  # the data root the study ran with (exported configs name it)
    storage_path: Optional[str] = None  # Ray Tune's storage: the trials' checkpoints (``study evaluate`` reads them)

    def load_optuna(self):
        return load_optuna_study(self.optuna_url, self.optuna_study)


def load_optuna_study(storage_url: str, study_name: str):
    """The Optuna study (the search state), with Optuna's info logging off."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=study_name, storage=storage_url)


def open_study(workspace: Path, name: str, optuna_storage: Optional[str] = None,
               mlflow_uri: Optional[str] = None, *, tracking: bool = True) -> StudyHandle:
    """Look a study up in the catalog; a URL stored with a masked password must be given again.

    ``tracking=False``: the caller reads Optuna only, so the MLflow URI is neither needed nor checked
    (the handle has none)."""
    from study.stores.catalog import Catalog
    from study.stores.urls import unmasked_url

    row = Catalog.open(workspace).get(name)
    spec = row.spec()
    optuna_url = unmasked_url(row.optuna_storage, optuna_storage, "--optuna-storage")
    tracking_uri = unmasked_url(row.mlflow_uri, mlflow_uri, "--mlflow-uri") if tracking and row.mlflow_uri else None
    return StudyHandle(name, spec, optuna_url, row.optuna_study, tracking_uri, row.mlflow_parent_run_id, row.status,
                       row.data_root, row.storage_path)


def trial_config(spec, params: dict[str, Any], seed_index: int = FIRST_SEED_INDEX):
    """The exact RunConfig (generation studies: GenerationConfig) a Ray worker resolved for this trial and seed."""
    return KINDS[spec.kind].trial_config(spec, params, seed_index)


@dataclass
class MlflowRuns:
    """The study's MLflow experiment and its child runs keyed by Ray trial id (empty without tracking)."""

    experiment_id: Optional[str] = None
    by_trial: dict[str, Any] = field(default_factory=dict)  # ray trial id -> mlflow.entities.Run
    client: Any = None
    note: Optional[str] = None  # why there are none, when there are none


def mlflow_runs(handle: StudyHandle) -> MlflowRuns:
    """Child runs of the study's parent run, keyed by their ``trial_id`` tag.

    MLflow is the metrics ledger, not the search state: when it is off or unreadable the caller
    still works from Optuna, and ``note`` says why the runs are missing."""
    if not handle.mlflow_uri or not handle.mlflow_parent_run_id:
        return MlflowRuns(note=f"study {handle.name} was run without MLflow tracking")
    from mlflow.exceptions import MlflowException

    from study.tracking.common import PARENT_TAG, TRIAL_TAG, client
    from study.stores.urls import mask

    cl = client(handle.mlflow_uri)
    try:
        exp_id = cl.get_run(handle.mlflow_parent_run_id).info.experiment_id
        by_trial: dict[str, Any] = {}
        token = None
        while True:
            page = cl.search_runs([exp_id], filter_string=f"tags.`{PARENT_TAG}` = '{handle.mlflow_parent_run_id}'",
                                  max_results=1000, page_token=token)
            for run in page:
                tid = run.data.tags.get(TRIAL_TAG)
                if tid:
                    by_trial[tid] = run
            token = page.token
            if not token:
                break
    except MlflowException as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        return MlflowRuns(note=f"MLflow runs of study {handle.name} could not be read from "
                               f"{mask(handle.mlflow_uri)}: {mask(first)}")
    return MlflowRuns(exp_id, by_trial, cl)
