"""The ``study`` command. Sub-commands import their heavy dependencies lazily, so --help is fast."""
from __future__ import annotations

import sys

import click
import typer
from rich.console import Console
from rich.markup import escape

from study.cli.app import app

err = Console(stderr=True, highlight=False, soft_wrap=True)  # one paragraph, never hard-wrapped mid-path


def _register_subcommands() -> None:
    from study.cli import commands  # noqa: F401  (each module adds its commands to `app`)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; bad input becomes one readable paragraph and exit code 2, a fault of the
    surroundings (a busy machine, a full disk, a server gone) one paragraph with its fix and what was kept, an
    unexpected error one paragraph naming the log file (both exit code 1)."""
    from study.console import logs
    from study.cli import rerun
    from study.cli.crash import debug_requested, report, report_fault
    from study.console.faults import diagnose

    logs.new_command()
    rerun.set_rerun(None)  # main may run several commands in one process (tests do): none inherits a resume hint
    debug, argv = debug_requested(list(sys.argv[1:] if argv is None else argv))
    try:
        return _run(argv)
    except Exception as e:  # noqa: BLE001  (anything not known to be bad input)
        fault = diagnose(e)  # a fault of the surroundings (study.errors.Fault, a full disk, a locked database ...)
        if fault is not None:
            return report_fault(fault, e, argv, debug, err)
        return report(e, argv, debug, err)


def _run(argv: list[str]) -> int:
    from pydantic import ValidationError

    from trainables.errors import InputError
    from trainables.schema.registry import UnknownNameError

    from study.run import env

    env.apply()
    _register_subcommands()
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="study")
        return int(rv or 0)
    except (typer.Exit, click.exceptions.Exit) as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except (typer.Abort, click.exceptions.Abort) as e:
        if isinstance(e.__context__, EOFError):  # click turns any EOFError into Abort: a truncated file is no Ctrl-D
            raise e.__context__ from None
        err.print("aborted")
        return 130
    except (typer.TyperException, click.ClickException) as e:  # usage errors, bad option values
        e.show()
        return int(getattr(e, "exit_code", 2) or 2)
    except ValidationError as e:
        from study.errors.wording import format_validation

        err.print(f"[red]error:[/red] {escape('invalid configuration:' + chr(10) + format_validation(e))}")
        return 2
    except (InputError, UnknownNameError) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}")
        return 2


def entry() -> None:
    """The ``study`` script: Ctrl-C / SIGTERM end in one line saying how to continue (study.run.interrupt)."""
    from study.run import interrupt

    sys.exit(interrupt.guarded(main, lambda msg: err.print(f"[yellow]{msg}[/yellow]")))


if __name__ == "__main__":
    entry()
