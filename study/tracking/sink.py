"""Worker side: the trial's MLflow child run, opened inside the trainable with an explicit URI.

Resume-safe: the run is found again by its ``trial_id`` tag, and only epochs after the last
logged step are logged (gaps are back-filled from the checkpoint's record history), so a
restarted trial appends to its run without repeating or skipping a step. One ``log_batch`` per
epoch carries its metrics and, on a NaN stop, the stop-reason tag. Window statistics
(``window/...``, ``eval.report_every``) are series of their own at the global optimizer step; the
epoch-level metrics stay at the epoch, so no MLflow series mixes the two. A sink lives for one trial; the
MLflow store behind ``client`` (engine, schema check) is MLflow's per-process cache, so a reused
worker connects once.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from study.tracking.common import (PARENT_TAG, STUDY_TAG, TRIAL_TAG, client, find_run, flatten, last_step,
                                   log_metrics, log_params)
from trainables.schema import records as R


class ChildRunSink:
    def __init__(self, cfg, trial_id: str, tracking_uri: str, experiment_id: str, parent_run_id: str,
                 study: str, trial_number: Any = None, seed_index: int = 0) -> None:
        self.cfg, self.trial_id = cfg, trial_id
        self.cl = client(tracking_uri)
        self.experiment_id, self.parent_run_id, self.study = experiment_id, parent_run_id, study
        self.trial_number, self.seed_index = trial_number, seed_index
        self.run_id: str | None = None
        self.logged_upto = 0  # epochs logged
        self.windows_upto = 0  # global step of the last window logged

    def on_start(self, restored_epoch: int, history: list[dict]) -> None:
        run = find_run(self.cl, self.experiment_id, self.trial_id)
        if run is None:
            tags = {PARENT_TAG: self.parent_run_id, TRIAL_TAG: self.trial_id, STUDY_TAG: self.study,
                    "optuna_trial": str(self.trial_number), "seed_index": str(self.seed_index)}
            name = f"trial-{self.trial_number}" + (f"-seed{self.seed_index}" if self.seed_index else "")
            run = self.cl.create_run(self.experiment_id, tags=tags, run_name=name)
            self.run_id = run.info.run_id
            log_params(self.cl, self.run_id, flatten(self.cfg.resolved().model_dump(mode="json")))
            self._log_config()
        else:
            self.run_id = run.info.run_id
            self.cl.update_run(self.run_id, status="RUNNING")
            self.logged_upto = last_step(self.cl, self.run_id)
            self.windows_upto = last_step(self.cl, self.run_id, R.WINDOW_STEPS)
        for rec in history:
            self.on_record(rec)

    def _log_config(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "config.yaml"
            p.write_text(yaml.safe_dump(self.cfg.model_dump(mode="json"), sort_keys=False))
            self.cl.log_artifact(self.run_id, str(p))

    def on_record(self, metrics: dict) -> None:
        reason = metrics.get(R.STOP_REASON)
        tags = {R.STOP_REASON: reason} if reason else None
        step = metrics.get(R.STEP)
        window = {k: v for k, v in metrics.items() if k.startswith(R.WINDOW_PREFIX)}
        if window and step is not None and step > self.windows_upto:
            log_metrics(self.cl, self.run_id, window, step=int(step), tags=tags)
            self.windows_upto = int(step)
        if R.is_partial(metrics):
            return
        epoch = int(metrics[R.EPOCH])
        if epoch <= self.logged_upto:
            return
        rest = {k: v for k, v in metrics.items() if k not in window and k != R.PARTIAL}
        log_metrics(self.cl, self.run_id, rest, step=epoch, tags=tags)
        self.logged_upto = epoch

    def on_warning(self, topic: str, text: str) -> None:
        """Something the trial's user should know (a torn checkpoint skipped on restore): tag ``warning/TOPIC``."""
        self.cl.set_tag(self.run_id, f"warning/{topic}", text[:4000])

    def on_artifacts(self, directory: str, artifact_path: str) -> None:
        """Files a trial produced (e.g. generation grids and metrics.json) into the run's artifacts."""
        self.cl.log_artifacts(self.run_id, directory, artifact_path)

    def on_end(self, history: list[dict]) -> None:
        """Normal end of training; the driver callback sets the final status and artifacts."""
