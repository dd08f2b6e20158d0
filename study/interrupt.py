"""Ctrl-C and SIGTERM: stop within seconds, print one line saying how to go on, no traceback.

During ``Tuner.fit`` Ray Tune handles the first SIGINT itself: it stops the trials, saves the
experiment state and returns (the engine then sees unfinished trials and records the study as
interrupted). SIGTERM would kill the driver without that, so it is turned into SIGINT. Outside
``fit`` (start-up imports, Ray start, the summary) SIGINT raises KeyboardInterrupt, which
``guarded`` turns into the same one line and exit code 130. Later presses end the process at once
(``os._exit``), so Ray's shutdown cannot print a second traceback, and "Exception ignored …
KeyboardInterrupt" messages from finalizers are dropped.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable, Optional, Union

EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C
_resume_hint: Union[str, Callable[[], str], None] = None
_installed = False


def set_resume_hint(command: Union[str, Callable[[], str], None]) -> None:
    """The command that continues the work in progress (or a function giving it), printed when interrupted."""
    global _resume_hint
    _resume_hint = command


def message() -> str:
    hint = _resume_hint
    if callable(hint):
        try:
            hint = hint()
        except Exception:  # noqa: BLE001 - an interrupted process must still say something and exit
            hint = None
    return f"interrupted; continue with: {hint}" if hint else "interrupted"


def _term_as_int(signum, frame) -> None:
    """SIGTERM does what Ctrl-C does now: Ray Tune's handler during fit, else KeyboardInterrupt (also
    when SIGINT is ignored, as in a background job of a non-interactive shell)."""
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
    install()
    try:
        return main()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, _exit_now)  # a second Ctrl-C during clean-up quits at once, silently
        signal.signal(signal.SIGTERM, _exit_now)
        err(message())
        return EXIT_CODE
