"""Driver side: the study's parent run, and the callback that finalises each trial's child run.

The parent run carries the spec as params and, as tags, the study and Optuna names, the masked
storage URLs, the git commit and package versions. When a trial ends, ``LedgerCallback`` writes
its stop reason (and ``stop_outcome``: whether the stop kept the trial's result), epochs and checkpoint
location, sets the run status (FINISHED, also for a stop that keeps the result / KILLED for ASHA's stop and a
degenerate trial / FAILED), and has the trace CSV and the ΔE plot logged (``artifacts.ArtifactWriter``).
"""
from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Optional

from ray.tune import Callback

from study.tracking.artifacts import PENDING_TAG, ArtifactWriter, catch_up, pending_value
from study.tracking.common import STUDY_TAG, URI_ENV, client, find_run, flatten, log_params
from study.tracking.mlflow_ui import KIND_TAG, TRAINING_KIND, mark_training
from study.stopping.outcome import keeps_result, stop_phrase
from study.stores.urls import has_password, mask
from trainables.schema import records as R

log = logging.getLogger(__name__)
SINK_FACTORY = "study.tracking.sink:ChildRunSink"
STOP_OUTCOME_TAG = "stop_outcome"  # e.g. "stopped (probe collapse at step 128), result kept"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("der-study", "torch", "torchvision", "ray", "optuna", "mlflow", "torch-fidelity", "torchattacks"):
        try:
            out[f"version.{dist}"] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def worker_env(uri: str) -> dict[str, str]:
    """Environment for Ray workers: how a URI with a password reaches them without entering configs."""
    return {URI_ENV: uri} if has_password(uri) else {}


def _expose_uri(uri: str) -> None:
    """Driver-side callbacks hold the masked URI; they find the real one here (never in a file)."""
    if has_password(uri):
        os.environ[URI_ENV] = uri


@dataclass
class Tracking:
    uri: str
    experiment_id: str
    parent_run_id: str
    study: str

    @classmethod
    def start(cls, opts, name: str, spec) -> "Tracking":
        """Create (or reuse) the study's experiment and open a new parent run."""
        _expose_uri(opts.mlflow_uri)
        cl = client(opts.mlflow_uri)
        exp = cl.get_experiment_by_name(name)
        if exp is None:
            location = None
            if not opts.mlflow_uri.startswith(("http://", "https://")):
                location = (opts.artifact_root / name).resolve().as_uri()
            exp_id = cl.create_experiment(name, artifact_location=location, tags={KIND_TAG: TRAINING_KIND})
        else:
            exp_id = exp.experiment_id
            mark_training(cl, exp_id)
        tags = {STUDY_TAG: name, "optuna.study_name": name, "optuna.storage": mask(opts.optuna_storage),
                "ray.storage_path": mask(opts.storage_path), "git.commit": _git_commit(), **_versions()}
        run = cl.create_run(exp_id, run_name=name, tags=tags)
        log_params(cl, run.info.run_id, {"spec." + k: v for k, v in flatten(spec.model_dump(mode="json")).items()})
        return cls(opts.mlflow_uri, exp_id, run.info.run_id, name)

    @classmethod
    def reopen(cls, uri: str, name: str, parent_run_id: str) -> "Tracking":
        _expose_uri(uri)
        cl = client(uri)
        run = cl.get_run(parent_run_id)
        mark_training(cl, run.info.experiment_id)  # studies from before the tag open in the training view too
        cl.update_run(parent_run_id, status="RUNNING")
        catch_up(uri, run.info.experiment_id)  # trace plots a killed driver had not drawn yet
        return cls(uri, run.info.experiment_id, parent_run_id, name)

    def worker_env(self) -> dict[str, str]:
        return worker_env(self.uri)

    def sink_spec(self) -> dict:
        return {"factory": SINK_FACTORY, "kwargs": {"tracking_uri": mask(self.uri), "experiment_id": self.experiment_id,
                                                    "parent_run_id": self.parent_run_id, "study": self.study}}

    def driver_callback(self) -> "LedgerCallback":
        return LedgerCallback(mask(self.uri), self.experiment_id)

    def register_best(self, optuna_storage: str, metric: str, mode: str) -> None:
        """The best trial's model into the model registry; a failure here never fails the study."""
        from study.console.logs import library_output
        from study.tracking.registry import register_best

        try:
            with library_output():  # MLflow prints "Successfully registered model ..." itself
                register_best(self.uri, self.experiment_id, optuna_storage, self.study, metric, mode)
        except Exception:  # noqa: BLE001
            log.exception("could not register the best model of study %s", self.study)

    def finish(self, status: str = "FINISHED") -> None:
        client(self.uri).set_terminated(self.parent_run_id, status=status)


class LedgerCallback(Callback):
    """Finalises child runs from the driver (a stopped trial's worker is killed before it could).

    Tags and status are written when the trial ends; the trace CSV and plot follow on the
    ``ArtifactWriter``'s thread, which the end of the experiment waits for."""

    def __init__(self, uri: str, experiment_id: str) -> None:
        self.uri, self.experiment_id = uri, experiment_id

    @property
    def writer(self) -> ArtifactWriter:
        if self.__dict__.get("_writer") is None:  # also for callbacks unpickled from an older experiment
            self._writer = ArtifactWriter(self.uri)
        return self._writer

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finalise(trial, failed=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finalise(trial, failed=True)

    def on_experiment_end(self, trials, **info):
        self.writer.drain()

    def _finalise(self, trial, failed: bool) -> None:
        from mlflow.entities import RunTag

        try:
            cl = client(self.uri)
            run = find_run(cl, self.experiment_id, trial.trial_id)
            if run is None:
                return
            rid = run.info.run_id
            last = trial.last_result or {}
            reason: Optional[str] = last.get(R.STOP_REASON)
            tags = {R.STOP_REASON: reason, R.STOP_EPOCH: str(last.get(R.STOP_EPOCH)),
                    R.STOP_STEP: str(last.get(R.STOP_STEP)),
                    STOP_OUTCOME_TAG: stop_phrase(reason, step=last.get(R.STOP_STEP), epoch=last.get(R.STOP_EPOCH))
                    } if reason else {}
            tags["epochs_run"] = str(last.get(R.EPOCH, 0))
            ckpt = trial.checkpoint
            if ckpt is not None:
                tags["checkpoint_path"] = mask(ckpt.path)
            tags[PENDING_TAG] = pending_value(last.get(R.STOP_EPOCH) if reason else None)
            cl.log_batch(rid, tags=[RunTag(k, v) for k, v in tags.items()])  # one write, not one per tag
            # a stop that keeps the trial's result ends its run FINISHED; ASHA's and a degenerate trial's KILLED
            status = "FAILED" if failed else ("FINISHED" if keeps_result(reason) else "KILLED")
            cl.set_terminated(rid, status=status)
            self.writer.submit(rid, tags[PENDING_TAG])
        except Exception:  # noqa: BLE001 - the ledger must never take the study down
            log.exception("could not finalise the MLflow run of trial %s", trial.trial_id)
