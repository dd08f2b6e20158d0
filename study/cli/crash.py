"""An unexpected exception in a command: one paragraph on the console, the traceback in the log file.

Known bad input is answered elsewhere (exit code 2). Anything else is a fault of the platform or
of its surroundings: the user learns what failed, where the full traceback is and how to report
it, and gets exit code 1. ``--debug`` (or ``STUDY_DEBUG=1``) prints the traceback too.
"""
from __future__ import annotations

import datetime as dt
import sys
import traceback
from pathlib import Path
from typing import Optional

DEBUG_FLAG = "--debug"
DEBUG_ENV = "STUDY_DEBUG"


def debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` (anywhere on the command line) or ``$STUDY_DEBUG`` asks for tracebacks, and argv
    without the flag."""
    import os

    flag = DEBUG_FLAG in argv
    return flag or os.environ.get(DEBUG_ENV, "") not in ("", "0"), [a for a in argv if a != DEBUG_FLAG]


def _write(log: Path, exc: BaseException, argv: list[str]) -> Optional[Path]:
    """Append the traceback to ``log``; where it cannot be written (the study's disk is full or read-only), to
    the user's own log (``logs.cli_log``) instead."""
    from study import __version__
    from study.console import logs

    written = _append(log, exc, argv, __version__)
    if written is None and Path(log) != logs.cli_log():
        written = _append(logs.cli_log(), exc, argv, __version__)
    return written


def _append(log: Path, exc: BaseException, argv: list[str], version: str) -> Optional[Path]:
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"\n==== {dt.datetime.now().isoformat(timespec='seconds')} unexpected error in "
                    f"`study {' '.join(argv)}` (der-study {version}, Python {sys.version.split()[0]})\n")
            f.write("".join(traceback.format_exception(exc)))
        return log
    except OSError:
        return None


def report(exc: BaseException, argv: list[str], debug: bool, console) -> int:
    """Log ``exc`` and print one paragraph (plus the traceback with ``debug``); returns exit code 1."""
    from rich.markup import escape

    from study.console import logs

    log = _write(logs.active() or logs.cli_log(), exc, argv)
    command = f"study {argv[0]}" if argv else "study"
    detail = (str(exc).strip().splitlines() or [""])[0][:300]
    where = f"The full traceback is in {log}." if log else "The traceback could not be written to a log file."
    console.print(
        f"[red]error:[/red] `{escape(command)}` failed unexpectedly: {type(exc).__name__}"
        f"{': ' + escape(detail) if detail else ''}. This is not a known input error, so it is most likely a fault in the "
        f"platform or its surroundings. {where} Please report it with that file, the command you ran and the "
        f"output of `study version`; run the command again with --debug to see the traceback here.")
    if debug:
        console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    return 1


def report_fault(fault: BaseException, exc: BaseException, argv: list[str], debug: bool, console) -> int:
    """A fault of the surroundings (``study.errors.Fault``): its paragraph, what was kept and the command that
    continues, where the traceback went; exit code 1. Not worded as a bug: there is nothing to report."""
    from rich.markup import escape

    from study.console import logs
    from study.cli.rerun import continuation

    log = _write(logs.active() or logs.cli_log(), exc, argv)
    text = str(fault).strip().rstrip(".")
    recorded, command = continuation()
    if command and recorded:
        text += (". The study's completed trials, their MLflow runs and checkpoints are kept; once it is fixed, "
                 f"continue with: {command}")
    elif command:
        text += f". Nothing of the study was recorded; once it is fixed, start it again with: {command}"
    text += f". (The full traceback is in {log}.)" if log else "."
    console.print(f"[red]error:[/red] {escape(text[0].upper() + text[1:])}")
    if debug:
        console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    return 1
