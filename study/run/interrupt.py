"""Ctrl-C and SIGTERM: stop within seconds, print one line saying how to go on, no traceback.

During ``Tuner.fit`` Ray Tune handles the first SIGINT itself: it stops the trials, saves the
experiment state and returns (the engine then sees unfinished trials and records the study as
interrupted). SIGTERM would kill the driver without that, so it is turned into SIGINT. Outside
``fit`` (start-up imports, Ray start, the summary) SIGINT raises KeyboardInterrupt, which
``guarded`` turns into the same one line and exit code 130. Later presses end the process at once
(``os._exit``), so Ray's shutdown cannot print a second traceback, and "Exception ignored …
KeyboardInterrupt" messages from finalizers are dropped.

A SIGTERM that reached Ray's own processes too (a cluster scheduler ends every process of a job; a local
Ray's processes have a session of their own, so ``timeout`` and ``kill -- -PGID`` do not reach them:
``study.run.raystart``) leaves the clean stop without a GCS to talk to, and Ray would wait minutes, then
abort with a raw "Failed to connect to GCS" line. A watcher started by the first SIGTERM notices the GCS
gone and, if the process has not ended ``ABANDON_GRACE_S`` later, ends it: the study is recorded as
interrupted (``set_abandon``), the same one line is printed, exit code 130. The trials in flight then
continue from their last epoch's checkpoint on `study resume`, as after a killed driver.
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from typing import Callable, Optional, Union

EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C
ABANDON_GRACE_S = 5.0
_resume_hint: Union[str, Callable[[], str], None] = None
_installed = False
_err: Optional[Callable[[str], None]] = None
_abandon: Optional[Callable[[], None]] = None
_watching = False
_done = False


def set_resume_hint(command: Union[str, Callable[[], str], None]) -> None:
    """The command that continues the work in progress (or a function giving it), printed when interrupted."""
    global _resume_hint
    _resume_hint = command


def message() -> str:
    hint = resume_command()
    return f"interrupted; continue with: {hint}" if hint else "interrupted"


def resume_command() -> Optional[str]:
    """The command that continues the work in progress, if one is known."""
    hint = _resume_hint
    if callable(hint):
        try:
            hint = hint()
        except Exception:  # noqa: BLE001 - an interrupted process must still say something and exit
            hint = None
    return hint or None


def request_stop() -> None:
    """Stop the running study the way Ctrl-C does (Ray Tune's SIGINT handler, installed during ``fit``);
    from the main thread (a Tune callback). A no-op when Ray Tune's handler is not installed."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler not in (signal.default_int_handler, _exit_now):
        handler(signal.SIGINT, None)


def set_abandon(action: Optional[Callable[[], None]]) -> None:
    """What to record before a stop that Ray cannot finish ends the process (the study: interrupted)."""
    global _abandon
    _abandon = action


def _gcs_address() -> Optional[str]:
    ray = sys.modules.get("ray")
    try:
        if ray is None or not ray.is_initialized():
            return None
        return ray.get_runtime_context().gcs_address
    except Exception:  # noqa: BLE001 - no Ray to watch
        return None


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _watch_gcs(address: str) -> None:
    gone_since: Optional[float] = None
    while not _done:
        time.sleep(0.5)
        if _answers(address):
            gone_since = None
            continue
        gone_since = gone_since or time.monotonic()
        if time.monotonic() - gone_since >= ABANDON_GRACE_S and not _done:
            break
    else:
        return
    try:
        if _abandon is not None:
            _abandon()
    except Exception:  # noqa: BLE001 - the line and the exit code matter more now
        pass
    if _err is not None:
        _err(message() + " (Ray's own processes were stopped by the same signal: the trials in flight continue "
                         "from their last epoch's checkpoint)")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass
    os._exit(EXIT_CODE)


def _watch_ray() -> None:
    global _watching
    address = _gcs_address()
    if address is None or _watching:
        return
    _watching = True
    threading.Thread(target=_watch_gcs, args=(address,), name="gcs-watch", daemon=True).start()


def _term_as_int(signum, frame) -> None:
    """SIGTERM does what Ctrl-C does now: Ray Tune's handler during fit, else KeyboardInterrupt (also
    when SIGINT is ignored, as in a background job of a non-interactive shell)."""
    _watch_ray()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def _exit_now(signum, frame) -> None:
    os._exit(EXIT_CODE)


def _unraisable(hook):
    def quiet(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        hook(unraisable)

    return quiet


def install() -> None:
    """SIGTERM behaves as Ctrl-C; finalizers interrupted by Ctrl-C stay quiet."""
    global _installed
    signal.signal(signal.SIGTERM, _term_as_int)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    _installed = True


def reclaim() -> None:
    """Take SIGTERM back after ``ray.init``, which sets its own handlers (a Python one that exits, and a
    native one that prints a stack trace and aborts the driver). A no-op unless ``install`` ran."""
    import threading

    if _installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _term_as_int)


def guarded(main: Callable[[], int], err: Callable[[str], None]) -> int:
    """Run ``main``; a KeyboardInterrupt becomes one line on ``err`` and exit code 130."""
    global _err, _done
    _err = err
    install()
    try:
        return main()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, _exit_now)  # a second Ctrl-C during clean-up quits at once, silently
        signal.signal(signal.SIGTERM, _exit_now)
        err(message())
        return EXIT_CODE
    finally:
        _done = True  # the exit code is decided: a GCS that goes away during Ray's shutdown changes nothing
