"""Checkpoint files under faults, on real processes and real files (issue 31): a writer SIGKILLed in the middle
of a write, a full disk (a small tmpfs), a flipped byte and a cut-short copy; and a trial's checkpoint folders
(trainables.training.resume): a torn newest folder is skipped for the one before it, with a warning."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from faultlib import tmpfs
from trainables import checkpoint
from trainables.errors import CheckpointError
from trainables.training.resume import MANIFEST, check, restore, write_manifest
from trainables.training import resume as resume_module

WRITER = """
import sys, torch
from trainables import checkpoint
path, n = sys.argv[1], 0
while True:  # rewrite the checkpoint over and over, each version a different constant
    n += 1
    checkpoint.save({"version": torch.tensor(n), "w": torch.full((2_000_000,), float(n))}, path)
    print(n, flush=True)
"""


def test_a_writer_killed_mid_write_never_leaves_a_torn_checkpoint(tmp_path):
    """SIGKILL at random moments of a loop of 8 MB writes: the file always loads whole, as one of the versions."""
    path = tmp_path / "state.pt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline()  # one version is complete
        time.sleep(0.05 + 0.13 * round_)  # somewhere inside a later write
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        state = checkpoint.load(path)  # verified (every entry's CRC) and loaded
        v = int(state["version"])
        assert v >= 1 and torch.equal(state["w"], torch.full((2_000_000,), float(v)))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "state.pt"]
    assert all(n.startswith(".state.pt.") and n.endswith(".tmp") for n in leftovers), leftovers  # never read


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path):
    """On a full 4 MB tmpfs the write fails with the disk's own error (ENOSPC), the previous file stays whole
    and no temporary file is left to fill the disk further."""
    with tmpfs(tmp_path / "disk", "4m") as disk:
        path = disk / "state.pt"
        checkpoint.save({"w": torch.ones(100_000)}, path)  # 400 KB: fits
        with pytest.raises(OSError) as e:
            checkpoint.save({"w": torch.zeros(2_000_000)}, path)  # 8 MB: does not
        assert e.value.errno == 28
        assert torch.equal(checkpoint.load(path)["w"], torch.ones(100_000))
        assert sorted(p.name for p in disk.iterdir()) == ["state.pt"]


def test_a_flipped_byte_or_a_cut_short_file_is_refused_by_name(tmp_path):
    path = checkpoint.save({"w": torch.arange(100_000, dtype=torch.float32)}, tmp_path / "best.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # torch's own loader reads this as a wrong weight, silently
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.pt is corrupted: its entry .* does not match its checksum"):
        checkpoint.load(tmp_path / "flipped.pt")
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt is truncated"):
        checkpoint.load(tmp_path / "cut.pt")


class _Folder:
    """A checkpoint folder as a Ray Tune Checkpoint gives it (path, pyarrow filesystem, as_directory)."""

    def __init__(self, path, filesystem=None):
        from pyarrow import fs

        self.path, self.filesystem = str(path), filesystem or fs.LocalFileSystem()

    def as_directory(self):
        import contextlib

        return contextlib.nullcontext(self.path)


def _trial(tmp_path: Path, epochs: int) -> Path:
    """A trial folder with one checkpoint folder per epoch, written as trainables.tune.trainable writes them."""
    trial = tmp_path / "trial_x"
    for e in range(1, epochs + 1):
        d = trial / f"checkpoint_{e - 1:06d}"
        d.mkdir(parents=True)
        checkpoint.save({"epoch": e}, d / "state.pt")
        checkpoint.save({"model": torch.full((10,), float(e))}, d / "best.pt")
        (d / "records.jsonl").write_text("".join(f'{{"epoch": {k}}}\n' for k in range(1, e + 1)))
        write_manifest(d)
    return trial


@pytest.mark.parametrize("tear", ["state.pt cut short", "best.pt missing", "records.jsonl cut short"])
def test_a_torn_newest_folder_is_skipped_for_the_one_before(tear, tmp_path, monkeypatch):
    # the warning is read by a handler on the module's own logger: logging state that earlier tests in the session
    # leave behind (a library's fileConfig disabling existing loggers, root handlers replaced) must not hide it
    import logging

    seen: list[str] = []
    catcher = logging.Handler(logging.WARNING)
    catcher.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    monkeypatch.setattr(resume_module.log, "disabled", False)
    monkeypatch.setattr(logging.root.manager, "disable", 0)
    monkeypatch.setattr(resume_module.log, "level", logging.WARNING)
    logging.root.manager._clear_cache()  # isEnabledFor caches its answers per logger
    resume_module.log.addHandler(catcher)
    trial = _trial(tmp_path, 3)
    newest = trial / "checkpoint_000002"
    name = tear.split()[0]
    if "missing" in tear:
        (newest / name).unlink()
    else:
        data = (newest / name).read_bytes()
        (newest / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="checkpoint_000002"):
        check(newest)
    loaded = []
    restored = restore(_Folder(newest), lambda d: loaded.append(checkpoint.load(Path(d) / "state.pt")["epoch"]))
    assert loaded == [2] and restored.used.endswith("checkpoint_000001")
    assert [r["epoch"] for r in restored.history] == [1, 2]
    resume_module.log.removeHandler(catcher)
    assert "skipped 1 torn checkpoint(s) and resumed from" in restored.warning
    assert any("checkpoint_000002" in m for m in seen), seen


def test_no_whole_folder_left_starts_the_trial_again(tmp_path):
    trial = _trial(tmp_path, 1)
    (trial / "checkpoint_000000" / "state.pt").write_bytes(b"PK\x03\x04 cut")
    restored = restore(_Folder(trial / "checkpoint_000000"), lambda d: checkpoint.load(Path(d) / "state.pt"))
    assert restored.used == "" and restored.history == [] and "started again from epoch 1" in restored.warning


def test_folders_written_before_manifests_are_checked_by_their_files(tmp_path):
    trial = _trial(tmp_path, 1)
    (trial / "checkpoint_000000" / MANIFEST).unlink()
    check(trial / "checkpoint_000000")  # whole: accepted without a manifest
    (trial / "checkpoint_000000" / "best.pt").write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(CheckpointError, match="best.pt is truncated"):
        check(trial / "checkpoint_000000")
