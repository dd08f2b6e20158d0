"""Fault matrix, the disk under the workspace (issue 31): full, read-only, gone; on a real local Ray with SQLite
Optuna and MLflow in the workspace.

How the faults are made: the workspace lives on a real small file system, a tmpfs mounted for the test
(``faultlib.tmpfs``; root only, skipped elsewhere). *Full*: once a trial has reported an epoch, one file
fills the tmpfs to 20 MB free, below what a running study keeps free (``$STUDY_MIN_FREE_MB``, 100 MB); a
write that meets ENOSPC outright (a checkpoint: tests/trainables/training/test_checkpoint_writes.py) is the other
half. *Read-only*: the workspace lives on a loop-mounted ext4 image with
``errors=remount-ro``, and the kernel is told of an error on it mid-study, so it turns the file system
read-only under the running processes (EROFS), as on a failing disk; repaired (e2fsck) and mounted again.
*Gone*: the workspace lives on a bind mount that is unmounted (its files survive in the bind's source).

What the user must see: exit code 1, one paragraph naming the disk and the fix and the `study resume` line,
no raw traceback. What must be kept: after the disk is fixed, `study resume` finishes every planned trial
once, each with one MLflow run holding every epoch once, and whole checkpoints (faultlib.assert_kept).
"""
from __future__ import annotations

import subprocess

import pytest

from faultlib import (assert_clean, assert_resumes, assert_stopped_with, epochs_reported, ext4_disk, fill, finish,
                      kill_tree, optuna_states, run, start, tmpfs, wait_for)
from testlib import tiny_spec

pytestmark = pytest.mark.slow
EPOCHS, TRIALS = 4, 3


def _stop_on(fault, mnist_env, tmp_path, name: str, needles: tuple[str, ...], disk_of=None):
    """Run a study on a workspace on a disk of its own (default: a 256 MB tmpfs), apply ``fault`` to the disk after
    the first epoch, expect the paragraph; then undo the fault and expect `study resume` to finish the study."""
    with (disk_of or (lambda: tmpfs(tmp_path / "disk", "256m")))() as disk:
        mount = getattr(disk, "path", disk)
        ws = mount / "ws"
        spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=EPOCHS, num_samples=TRIALS)
        proc = start(["run", str(spec), "--workspace", str(ws)])
        try:
            wait_for(lambda: epochs_reported(ws, name) >= 1, proc, "the first epoch")
            undo = fault(disk)
            out = finish(proc, timeout=600)
        finally:
            kill_tree(proc.pid)
        assert_stopped_with(proc, out, needles)
        undo()
        # read after the repair: a write the fault cut short leaves SQLite a hot journal, which even a reader must
        # roll back, so on a read-only disk the read itself fails ("attempt to write a readonly database")
        states = optuna_states(f"sqlite:///{ws / 'optuna.db'}", name)
        assert "FAIL" not in states.values(), f"a trial was lost to the fault: {states}"
        assert_resumes(out, ws, name, trials=TRIALS, epochs=EPOCHS)


def test_a_full_disk_stops_the_study_with_a_paragraph_and_resume_finishes_it(mnist_env, tmp_path):
    """Filled to 20 MB free, under the 100 MB a study keeps free (STUDY_MIN_FREE_MB): the driver's check stops the
    study before any write fails (a write that does fail is held the same way: trainables.tune.trainable._hold)."""
    def full(disk):
        filler = fill(disk, keep_bytes=20 * 2**20)
        return filler.unlink

    _stop_on(full, mnist_env, tmp_path, "full", ("is full (", "less than the 100.0 MB a running study keeps free",
                                                 "Fix: free space on that disk"))


def test_a_workspace_turned_read_only_stops_the_study_and_resume_finishes_it(mnist_env, tmp_path):
    def read_only(disk):
        disk.fail()  # the kernel remounts it read-only (errors=remount-ro), as after a disk error
        return disk.repair

    _stop_on(read_only, mnist_env, tmp_path, "ro", ("read-only now", "make it writable again"),
             disk_of=lambda: ext4_disk(tmp_path))


def test_a_workspace_whose_mount_is_gone_is_named_and_found_again(mnist_env, tmp_path):
    """Unmounted between two commands: `study resume` and `study status` say the folder is gone and to mount it
    (exit code 2, nothing changed); mounted again, the study is there as it was."""
    source, mnt = tmp_path / "source", tmp_path / "mnt"
    source.mkdir()
    mnt.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root)")
    ws, name = mnt / "ws", "gone"
    try:
        spec = tiny_spec(mnist_env, tmp_path, name=name, epochs=2, num_samples=1)
        first = run(["run", str(spec), "--workspace", str(ws)])
        assert first.returncode == 0, first.stdout[-3000:]
        subprocess.run(["umount", str(mnt)], check=True)
        for argv in (["resume", name], ["status", name]):
            gone = run([*argv, "--workspace", str(ws)])
            assert gone.returncode == 2, gone.stderr
            said = " ".join(gone.stderr.split())
            assert f"the folder {ws} does not exist" in said and "mount it again" in said, said
            assert_clean(gone.stdout + gone.stderr)
        subprocess.run(["mount", "--bind", str(source), str(mnt)], check=True)
        again = run(["status", name, "--workspace", str(ws), "--json"])
        assert again.returncode == 0 and '"finished"' in again.stdout
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
