"""Helpers of the fault matrix (imported as faultlib; tests/ is on sys.path): a real `study` process to start,
signal and wait for; what the user must see (an exit code, the platform's own paragraph, no raw traceback);
what must be kept (Optuna, MLflow and the checkpoints agreeing: every planned trial once, every epoch once);
and the real surroundings to break: busy cores, a small tmpfs, an MLflow server that can be stopped and
started again, a SQLite lock held by another process.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from study.tracking.server import MlflowServer as _Server

BIN = Path(sys.executable).parent
STUDY = str(BIN / "study")
RAW = ("Traceback", "Exception ignored", "KeyboardInterrupt", "Failed to connect to GCS", "Tuner.restore",
       "failed unexpectedly", "--- Logging error ---")


# ---------------------------------------------------------------- processes

def start(args: list[str], env: Optional[dict] = None) -> subprocess.Popen:
    """`study ARGS` in a session of its own (so a test can signal its whole group), output captured."""
    return subprocess.Popen([STUDY, *args], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})


def run(args: list[str], env: Optional[dict] = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([STUDY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    """Wait for ``proc`` (a guard against a hang, not a speed check) and return its whole output."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_tree(proc.pid)
    return out


def wait_for(pred: Callable[[], object], proc: Optional[subprocess.Popen], what: str, timeout: float = 600):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the study ended before {what}: {proc.stdout.read()[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc), parents first."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += kids.get(p, [])
    return out


def signal_all(pid: int, sig: int) -> int:
    """``sig`` to ``pid`` and all its descendants, as a cluster scheduler ends every process of a job."""
    procs = descendants(pid)
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
    return len(procs)


def kill_tree(pid: int) -> None:
    """SIGKILL a test's `study` process, its group and everything it started (Ray's processes have their own)."""
    for p in reversed(descendants(pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# ---------------------------------------------------------------- what the user sees

def assert_clean(out: str) -> None:
    """No raw traceback or library line on the console: only the platform's own words."""
    for bad in RAW:
        assert bad not in out, f"{bad!r} on the console:\n{out[-4000:]}"


def paragraph(out: str) -> str:
    """The ``error:`` paragraph of a command's output, whitespace-normalised."""
    flat = " ".join(out.split())
    assert "error: " in flat, out[-3000:]
    return flat[flat.rindex("error: "):]


def assert_stopped_with(proc: subprocess.Popen, out: str, needles) -> str:
    """A study stopped by a fault: exit code 1, no raw traceback, a paragraph holding every needle and saying how
    to continue. Returns the paragraph."""
    assert proc.returncode == 1, out[-4000:]
    assert_clean(out)
    said = paragraph(out)
    for needle in (*needles, "continue with:"):
        assert needle in said, said
    return said


def assert_resumes(out: str, ws: Path, name: str, trials: int, epochs: int, mlflow_uri: Optional[str] = None) -> None:
    """The command the stop printed finishes the study, cleanly, with nothing lost or twice (``assert_kept``)."""
    done = run(continue_command(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_clean(done.stdout + done.stderr)
    assert_kept(ws, name, trials=trials, epochs=epochs, mlflow_uri=mlflow_uri)


def continue_command(out: str) -> list[str]:
    """The `study resume NAME [--workspace DIR]` a stopped command printed last, as argv (without the program)."""
    import re

    found = re.findall(r"continue with:\s+(\S+ resume \S+(?: --workspace \S+)?)", out)
    assert found, out[-3000:]
    return [w.rstrip(".)") for w in found[-1].split()][1:]


# ---------------------------------------------------------------- what is kept

def results(ws: Path, name: str) -> dict[Path, list[dict]]:
    out = {}
    for f in (ws / "ray" / name).glob("trial_*/result.json"):
        out[f.parent] = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return out


def optuna_states(storage: str, name: str) -> dict[int, str]:
    """Trial number -> state, read without keeping the database open (a disk must unmount after)."""
    import optuna

    st = optuna.storages.RDBStorage(storage)
    try:
        study_id = st.get_study_id_from_name(name)
        return {t.number: t.state.name for t in st.get_all_trials(study_id, deepcopy=False)}
    finally:
        st.engine.dispose()


def epochs_reported(ws: Path, name: str) -> int:
    return sum(sum(1 for r in rs if "epoch" in r and not r.get("partial")) for rs in results(ws, name).values())


def mlflow_runs(uri: str, name: str):
    from mlflow.tracking import MlflowClient

    cl = MlflowClient(tracking_uri=uri)
    runs = cl.search_runs([cl.get_experiment_by_name(name).experiment_id])
    return cl, [r for r in runs if "mlflow.parentRunId" not in r.data.tags], \
        [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def assert_kept(ws: Path, name: str, trials: int, epochs: int, mlflow_uri: Optional[str] = None,
                optuna_url: Optional[str] = None, test_metric: Optional[str] = "test/best/clean_acc") -> None:
    """After a study finished: Optuna, MLflow and the checkpoints agree; nothing lost, nothing twice.

    Optuna: exactly ``trials`` trials, all COMPLETE; MLflow: one parent run, one FINISHED child run per trial
    (``trial-N`` for N = 0 .. trials-1, distinct trial ids), each with every epoch of its history once and its
    test reading once; Ray's storage: every trial's checkpoints whole (``trainables.training.resume.check``)."""
    from trainables.training.resume import check

    states = optuna_states(optuna_url or f"sqlite:///{ws / 'optuna.db'}", name)
    assert list(states.values()) == ["COMPLETE"] * trials, states
    cl, parents, children = mlflow_runs(mlflow_uri or f"sqlite:///{ws / 'mlflow.db'}", name)
    assert len(parents) == 1, "the study has one parent run (a resume reuses it)"
    assert sorted(c.info.run_name for c in children) == [f"trial-{i}" for i in range(trials)]
    ids = [c.data.tags["trial_id"] for c in children]
    assert len(set(ids)) == trials, f"duplicate child runs: {ids}"
    for c in children:
        steps = [m.step for m in cl.get_metric_history(c.info.run_id, "val/pgd_acc")]
        assert sorted(steps) == list(range(1, epochs + 1)), (c.info.run_name, steps)
        if test_metric:
            assert len(cl.get_metric_history(c.info.run_id, test_metric)) == 1, (c.info.run_name, test_metric)
        assert c.info.status == "FINISHED", (c.info.run_name, c.info.status)
    folders = sorted((ws / "ray" / name).glob("trial_*/checkpoint_*"))
    assert folders, "no checkpoints kept"
    for folder in folders:
        check(folder)


# ---------------------------------------------------------------- surroundings

@contextlib.contextmanager
def busy_cores(n: Optional[int] = None) -> Iterator[list[subprocess.Popen]]:
    """``n`` (default: 2 per core) processes spinning on the CPUs, ended by their PIDs afterwards."""
    n = n or 2 * (os.cpu_count() or 1)
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(30)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real small disk: a tmpfs of ``size`` mounted at ``path`` (root only; skipped where mounting is not
    allowed), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): the disk faults need "
                    f"root (mount -t tmpfs)")
    try:
        yield path
    finally:
        _unmount(path)


def _unmount(path: Path) -> None:
    """Unmount ``path``; if this process still holds a file there (a cached database connection), detach it now
    and let the kernel free it when that closes (``umount -l``)."""
    for _ in range(10):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Ext4Disk:
    """A real ext4 file system in an image file, loop-mounted with ``errors=remount-ro`` (root only; skipped
    elsewhere): ``fail()`` makes the kernel turn it read-only under the running processes, as it does when a
    disk reports an error (``trigger_fs_error``; a plain ``mount -o remount,ro`` is refused while files are open
    for writing, and a study always has some); ``repair()`` unmounts, checks and mounts it again read-write."""

    def __init__(self, image: Path, path: Path) -> None:
        self.image, self.path = image, path

    def _device(self) -> str:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt = line.split()[:2]
            if mnt == str(self.path):
                return Path(dev).name
        raise AssertionError(f"{self.path} is not mounted")

    def mount(self) -> None:
        subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.path)], check=True,
                       capture_output=True)

    def fail(self) -> None:
        """The kernel's error: the file system turns read-only at once, and what it had not written out yet is lost
        (ext4 commits every 5 s), as on a real failure. ``sync`` first, so that the loss is the last moment's
        writes only, not files a process wrote a minute ago and the kernel had not flushed yet (Ray's tuner.pkl,
        which nobody fsyncs, was lost that way: a resume then has nothing to restore)."""
        os.sync()
        Path(f"/sys/fs/ext4/{self._device()}/trigger_fs_error").write_text("1")

    def repair(self) -> None:
        """Unmount (ending what still holds files there: what is left of the study that stopped on it), check,
        mount again."""
        for attempt in range(60):
            if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                break
            if attempt >= 10:
                for pid in holders(self.path):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True)
        self.mount()


def holders(path: Path) -> list[int]:
    """Processes with a file, folder or mapping open under ``path`` (from /proc)."""
    prefix, out = str(path).rstrip("/") + "/", []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            links = [os.readlink(f"/proc/{d}/cwd")] + [os.readlink(f"/proc/{d}/fd/{fd}")
                                                        for fd in os.listdir(f"/proc/{d}/fd")]
            maps = Path(f"/proc/{d}/maps").read_text()
        except OSError:
            continue
        if any(link.startswith(prefix) or link == str(path) for link in links) or prefix in maps:
            out.append(int(d))
    return out


@contextlib.contextmanager
def ext4_disk(tmp: Path, size: str = "256M") -> Iterator[Ext4Disk]:
    image, path = tmp / "disk.ext4", tmp / "disk"
    path.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["truncate", "-s", size, str(image)], capture_output=True)
    if made.returncode == 0:
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    disk = Ext4Disk(image, path)
    try:
        if made.returncode != 0:
            raise subprocess.CalledProcessError(made.returncode, "mkfs.ext4")
        disk.mount()
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot make and loop-mount an ext4 image here ({e}): the read-only fault needs root")
    try:
        yield disk
    finally:
        _unmount(path)


def fill(path: Path, keep_bytes: int = 0) -> Path:
    """Fill the file system holding ``path`` up to ``keep_bytes`` free, with one file; returns it."""
    import shutil

    filler = path / "filler.bin"
    free = shutil.disk_usage(path).free - keep_bytes
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while free > 0:
            try:
                f.write(chunk[:min(len(chunk), free)])
                f.flush()
            except OSError:
                break
            free -= len(chunk)
    return filler


class MlflowServer(_Server):
    """A real MLflow tracking server on 127.0.0.1 (SQLite backend, proxied artifacts) under ``root`` that a test
    stops at once, as a crashed server is, and starts again on the same port with the same stores."""

    def __init__(self, root: Path) -> None:
        super().__init__(f"sqlite:///{root / 'srv.db'}", artifacts=root / "srv-artifacts")

    def start(self, timeout: float = 120) -> "MlflowServer":
        super().start()
        if not self.wait_ready(timeout):
            self.stop(abrupt=True)
            pytest.fail("the MLflow server did not come up")
        return self

    def stop(self, abrupt: bool = True) -> None:
        super().stop(abrupt=abrupt)


@contextlib.contextmanager
def sqlite_locked(db: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """Another process holds an exclusive lock on the SQLite file ``db`` for ``seconds`` (yields once it holds)."""
    code = ("import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "c.execute('COMMIT')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait(30)
