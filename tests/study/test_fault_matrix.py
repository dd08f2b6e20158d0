"""The fault matrix of issue 31, one case per fault, and a check that each case is a test that exists.

Each case runs real components (a local Ray, SQLite Optuna, MLflow: a real server where the fault is the
server's, real files and mounts) and asserts what the user sees (exit code, the platform's paragraph naming
the fault and the fix, no raw traceback) and what is kept (tests/faultlib.py, ``assert_kept``: every
planned trial once in Optuna, one MLflow run per trial with every epoch once, whole checkpoints).

| fault | how it is made | expected |
|---|---|---|
| Ray start under load | 2 busy processes per core; a 3 s start budget | exit 1, "Ray did not start ... busy", nothing recorded |
| | the same load, the default budget | the study finishes |
| SIGTERM in the final evaluation | `kill PID`, then `kill -- -PGID` (timeout) | exit 130 twice, resume finishes it |
| SIGTERM to every process | the driver, Ray's GCS, raylet and workers | exit 130 in seconds, resume finishes it |
| disk full | a 256 MB tmpfs filled to its last byte | exit 1, "is full", resume finishes it |
| checkpoint write killed | SIGKILL at random moments of a writer | the previous file stays whole |
| checkpoint write on a full disk | a 4 MB tmpfs | ENOSPC, the previous file whole, no temp file |
| torn checkpoint, then resume | the newest state.pt cut to half | a warning per trial, resume from the one before |
| killed driver | SIGKILL to the driver | resume finishes, no duplicate run |
| killed worker | SIGKILL to a trial's worker | the trial continues from its checkpoint |
| MLflow server away and back | the server SIGKILLed for 20 s | the study finishes, nothing lost |
| MLflow server away past its retries | the same, retries shortened | exit 1, "does not answer", resume finishes it |
| Optuna SQLite locked | BEGIN EXCLUSIVE held 40 s, timeout 2 s | exit 1, "is locked", resume finishes it |
| read-only workspace | the tmpfs remounted read-only | exit 1, "read-only now", resume finishes it |
| vanished workspace | its bind mount unmounted | exit 2, "does not exist ... mount it again" |
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

MATRIX = {
    "Ray start under load, past its budget": "study.test_faults_load::"
                                             "test_a_start_past_its_budget_on_saturated_cores_ends_in_the_platforms_paragraph",
    "Ray start under load, within its budget": "study.test_faults_load::"
                                               "test_a_study_started_on_saturated_cores_waits_for_ray_and_finishes",
    "SIGTERM during the final evaluation": "study.test_faults_signals::"
                                           "test_sigterm_in_the_final_evaluation_is_a_clean_stop_and_resume_finishes",
    "SIGTERM to every process": "study.test_faults_signals::test_sigterm_to_every_process_of_the_study_is_a_clean_stop",
    "disk full mid-study": "study.test_faults_disk::test_a_full_disk_stops_the_study_with_a_paragraph_and_resume_finishes_it",
    "checkpoint write killed": "trainables.training.test_checkpoint_writes::"
                               "test_a_writer_killed_mid_write_never_leaves_a_torn_checkpoint",
    "checkpoint write on a full disk": "trainables.training.test_checkpoint_writes::test_a_full_disk_keeps_the_previous_checkpoint",
    "torn checkpoint then resume": "study.test_faults::test_a_torn_checkpoint_is_skipped_for_the_one_before_on_resume",
    "killed driver": "study.test_faults::test_killed_driver_resumes_without_losing_or_duplicating",
    "killed worker": "study.test_faults::test_killed_trial_worker_restarts_from_its_checkpoint",
    "MLflow server away and back": "study.test_faults_stores::test_an_mlflow_server_gone_for_a_while_and_back_loses_nothing",
    "MLflow server away past its retries": "study.test_faults_stores::"
                                           "test_an_mlflow_server_gone_past_its_retries_stops_the_study_and_resume_finishes",
    "Optuna SQLite locked": "study.test_faults_stores::"
                            "test_optuna_sqlite_locked_past_its_timeout_stops_the_study_and_resume_finishes",
    "read-only workspace": "study.test_faults_disk::test_a_workspace_turned_read_only_stops_the_study_and_resume_finishes_it",
    "vanished workspace": "study.test_faults_disk::test_a_workspace_whose_mount_is_gone_is_named_and_found_again",
}


@pytest.mark.parametrize("fault", sorted(MATRIX))
def test_every_fault_of_the_matrix_has_its_case(fault):
    module, test = MATRIX[fault].split("::")
    tree = ast.parse((TESTS / (module.replace(".", "/") + ".py")).read_text())
    assert test in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, MATRIX[fault]
