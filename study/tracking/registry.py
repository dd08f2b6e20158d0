"""Register the study's best trial's model in the MLflow model registry, under the study's name."""
from __future__ import annotations

import logging
from typing import Optional

from study.search.search import TrialAttrs
from study.tracking.common import client, find_run
from trainables.schema import records as R

log = logging.getLogger(__name__)
HEADLINE = (R.VAL_ROBUST_ACC, R.VAL_PGD_ACC, R.VAL_MASKING_GAP, R.VAL_CLEAN_ACC, R.BEST_VAL_ROBUST, R.BEST_VAL_PGD,
            R.BEST_EPOCH)


def best_trial(storage_url: str, study_name: str, metric: str, mode: str):
    """The best COMPLETE Optuna trial by its headline metric (Pareto studies: by the first objective)."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=storage_url)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if isinstance(TrialAttrs.of(t).metric(metric), (int, float))]
    if not done:
        return None
    pick = max if mode == "max" else min
    return pick(done, key=lambda t: TrialAttrs.of(t).metric(metric))


def register_best(uri: str, experiment_id: str, storage_url: str, study_name: str, metric: str,
                  mode: str) -> Optional[str]:
    """Log the best trial's selected weights as an MLflow PyTorch model in its child run and register it."""
    import mlflow
    import mlflow.pytorch
    from ray.tune import Checkpoint

    from trainables.schema.config import RunConfig
    from trainables.models.saved import load_classifier

    trial = best_trial(storage_url, study_name, metric, mode)
    if trial is None:
        return None
    cl = client(uri)
    run = find_run(cl, experiment_id, TrialAttrs.of(trial).ray_trial_ids[0])
    ckpt = run.data.tags.get("checkpoint_path") if run else None
    if not ckpt:
        return None
    with Checkpoint(ckpt).as_directory() as d:
        model, cfg = load_classifier(f"{d}/best.pt")
    mlflow.set_tracking_uri(cl.tracking_uri)
    with mlflow.start_run(run_id=run.info.run_id):
        try:  # inside the run: an exception escaping `start_run` would mark the trial's run FAILED
            info = mlflow.pytorch.log_model(model.cpu(), name="model", registered_model_name=study_name,
                                            serialization_format="pickle",
                                            pip_requirements=["torch", "torchvision", "der-study"])
        except Exception:  # noqa: BLE001
            log.exception("could not log the best model of study %s", study_name)
            return None
    mv = max(cl.search_model_versions(f"name='{study_name}'"), key=lambda v: int(v.version))
    metrics = TrialAttrs.of(trial).metrics
    for k in (*HEADLINE, *(k for k in metrics if k.startswith("test/"))):
        if k in metrics:
            cl.set_model_version_tag(study_name, mv.version, k, str(metrics[k]))
    cl.set_model_version_tag(study_name, mv.version, "optuna_trial", str(trial.number))
    cl.update_model_version(study_name, mv.version, description=f"best trial {trial.number} of study {study_name} "
                            f"by {metric} ({mode}); params {trial.params}; config {RunConfig.model_validate(cfg.model_dump()).name}")
    log.info("registered %s version %s from trial %s (%s)", study_name, mv.version, trial.number, info.model_uri)
    return mv.version
