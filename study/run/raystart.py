"""Starting a local Ray on a busy machine: one budget for every wait, a line when it is slow, a paragraph
when it fails, and Ray's processes in a session of their own.

Measured on this project's 2-core machine: ``ray.init`` takes 3-4 s idle, 15 s with four busy
processes on the cores, and a ``make quickstart`` whose cores trained something else died after
minutes with Ray's "Failed to connect to GCS within 60 seconds" (issue 31). Ray has several waits of
its own (the GCS port: 30 s; connecting to the GCS: 20 tries; a process whose GCS stops answering:
60 s, then it aborts), each ending in a raw message. Here they all get the platform's budget,
``$STUDY_RAY_START_TIMEOUT`` (300 s unless set; a user's own ``RAY_...`` settings win), the console
says after 15 s that the start is slow and how long it will wait, and a start that does not finish
within the budget is stopped and answered with one ``Fault`` paragraph: what failed, how busy the
machine is, and the fix.

Ray's processes (GCS, raylet and, through the raylet, the trial workers) are started in a session of
their own. A SIGTERM to the whole process group, which is what ``timeout`` sends and what a shell's
``kill -- -PGID`` does, then reaches the driver only, which stops the study cleanly (``study.run.interrupt``)
instead of losing its GCS under it. They still end with the driver: Ray ties them to it with the kernel's
parent-death signal on Linux.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from typing import Callable, Iterator, Optional

from study.errors import Fault, UserError

log = logging.getLogger(__name__)
BUDGET_ENV = "STUDY_RAY_START_TIMEOUT"
DEFAULT_BUDGET_S = 300.0
NOTICE_S = 15.0


def budget_s() -> float:
    """The start budget in seconds: ``$STUDY_RAY_START_TIMEOUT`` or 300."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return DEFAULT_BUDGET_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{BUDGET_ENV}={raw!r} is not a number of seconds; set it to e.g. 600 (or unset it: 300)")
    return value


def ray_env(budget: float) -> dict[str, str]:
    """Ray's own waits, raised to the budget (read by Ray's processes from the environment at their start)."""
    b = str(int(math.ceil(budget)))
    return {
        "RAY_gcs_server_port_wait_time_s": b,  # the GCS writing its port, and as many tries to connect to it
        "RAY_raylet_start_wait_time_s": b,  # a process waiting for its raylet
        "RAY_worker_register_timeout_seconds": str(max(60, int(math.ceil(budget)))),  # a worker's start
        # a process whose GCS does not answer aborts after this (Ray: 60 s); past our own budget, so that the
        # start is stopped by us with a paragraph first, and a running study outlives a GCS starved for a minute
        "RAY_gcs_rpc_server_reconnect_timeout_s": str(int(math.ceil(budget)) + 60),
    }


def apply_ray_env(budget: Optional[float] = None) -> None:
    for k, v in ray_env(budget_s() if budget is None else budget).items():
        os.environ.setdefault(k, v)


def load_phrase() -> str:
    """How busy the machine is, in words: 'load average 7.9 on 2 CPUs'."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return f"{os.cpu_count() or 1} CPUs"
    return f"load average {load:.1f} on {os.cpu_count() or 1} CPUs"


def _busy() -> bool:
    try:
        return os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:
        return False


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_local(init: Callable[[], object], say: Optional[Callable[[str], None]] = None,
                budget: Optional[float] = None, notice: float = NOTICE_S) -> None:
    """Run ``init`` (the ``ray.init`` of a local start) within the budget; see the module docstring."""
    import _thread

    budget = budget_s() if budget is None else budget
    say = say or _stderr
    apply_ray_env(budget)
    notice = min(notice, budget / 3)
    done, gave_up, lock = threading.Event(), threading.Event(), threading.Lock()

    def watch() -> None:
        if done.wait(notice):
            return
        say(f"Ray is still starting on this machine after {notice:.0f} s ({load_phrase()}); waiting up to "
            f"{budget:.0f} s in all ({BUDGET_ENV} sets how long)")
        if done.wait(max(0.0, budget - notice)):
            return
        with lock:
            if done.is_set():
                return
            gave_up.set()
            _thread.interrupt_main()  # ray.init waits in Python loops: this ends them as Ctrl-C would

    started = time.monotonic()
    threading.Thread(target=watch, name="ray-start-watch", daemon=True).start()
    try:
        with own_session():
            init()
        with lock:
            done.set()
    except KeyboardInterrupt:
        done.set()
        if not gave_up.is_set():
            raise
        _shutdown()
        raise start_fault(budget, None) from None
    except (RuntimeError, ConnectionError, TimeoutError, OSError) as e:  # Ray's own "Failed to start ..." errors
        done.set()
        _shutdown()
        log.error("Ray did not start", exc_info=True)
        raise start_fault(time.monotonic() - started, e) from None


def start_fault(waited: float, error: Optional[BaseException]) -> Fault:
    """The paragraph of a local start that failed (``error``: Ray's own exception; None: the budget ran out)."""
    said = ""
    if error is not None:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        said = f" Ray said: {first}."
    if error is None:
        what = f"Ray did not start on this machine within {waited:.0f} s ({load_phrase()})."
    else:
        what = f"Ray could not start on this machine (after {waited:.0f} s; {load_phrase()}).{said}"
    why = (" The cores are busy with other work, so Ray's own processes could not start in time."
           if _busy() else "")
    fix = (f" Fix: run the command again when the machine is less busy, or give Ray longer: "
           f"{BUDGET_ENV}={int(max(2 * waited, 2 * DEFAULT_BUDGET_S))} before the command.")
    return Fault(what + why + fix)


def _shutdown() -> None:
    """Stop whatever part of a local Ray a failed start left running."""
    try:
        import ray

        ray.shutdown()
    except Exception:  # noqa: BLE001 - best effort after a failed start; the fault is what the user must see
        log.warning("cleaning up after a failed Ray start", exc_info=True)


@contextlib.contextmanager
def own_session() -> Iterator[None]:
    """Within the block, the processes ``ray.init`` starts get a session (and process group) of their own.

    Ray starts them through ``ray._private.services.ConsolePopen`` (checked against ray 2.60; without it
    they share the driver's group, as before, and a group SIGTERM kills them:
    tests/study/test_faults_signals.py notices)."""
    try:
        from ray._private import services
    except ImportError:
        yield
        return
    original = getattr(services, "ConsolePopen", None)
    if original is None:
        log.warning("ray._private.services.ConsolePopen is gone: Ray's processes share the driver's process group")
        yield
        return

    class OwnSession(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            if sys.platform != "win32":
                kwargs.setdefault("start_new_session", True)
            super().__init__(*args, **kwargs)

    services.ConsolePopen = OwnSession
    try:
        yield
    finally:
        services.ConsolePopen = original
