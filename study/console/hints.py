"""Commands the console prints for the user to paste: spelled so that they work in a fresh shell.

After ``make quickstart`` the ``study`` script lives in ``.venv/bin`` and is not on the PATH, and
the workspace may not be the default ``./studies``. So a printed command starts with the way this
very process was started (``study`` only when that is what the PATH finds, else the script's path,
relative to the current folder when inside it) and names ``--workspace`` whenever the workspace is
not the one a bare command would use.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

def shown(path: Path) -> str:
    """``path`` relative to the current folder when inside it (with a ``./``-free, slash-bearing form), else absolute."""
    path = Path(path).absolute()
    try:
        rel = path.relative_to(Path.cwd())
    except ValueError:
        return str(path)
    return str(rel) if len(rel.parts) > 1 else f"./{rel}"


def program() -> list[str]:
    """How to start ``study`` again from a new shell in this folder."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "study"
    if argv0.endswith(".py") or argv0 in ("-m", "-c"):  # python -m study
        return [shown(Path(sys.executable)), "-m", "study"]
    script = Path(argv0)
    found = shutil.which("study")
    if script.name == "study" and found and script.exists() and Path(found).resolve() == script.resolve():
        return ["study"]
    if not script.exists():
        return ["study"]
    return [shown(script)]


def workspace_args(workspace: Optional[Path]) -> list[str]:
    """``--workspace DIR`` unless a fresh shell here (no ``$STUDY_WORKSPACE``) would find it by default."""
    from study.stores.workspace import DEFAULT_WORKSPACE

    if workspace is None:
        return []
    ws = Path(workspace).expanduser().absolute()
    if ws.resolve() == (Path.cwd() / DEFAULT_WORKSPACE).resolve():
        return []
    return ["--workspace", shown(ws)]


def command(*args: str, workspace: Optional[Path] = None) -> str:
    """A pasteable ``study ARGS [--workspace DIR]`` line."""
    return shlex.join([*program(), *map(str, args), *workspace_args(workspace)])


def next_steps(name: str, workspace: Path, finished: bool, completed: bool = True) -> list[tuple[str, str]]:
    """(command, what it shows) after a study ran: the README's first-hour walk-through, in order.
    ``completed``: some trial completed, so there is something to export."""
    steps = [] if finished else [(command("resume", name, workspace=workspace), "continue it where it stopped")]
    steps += [
        (command("status", name, workspace=workspace), "one row per trial"),
        (command("report", name, workspace=workspace), "an HTML report: ΔE traces, PGD curves, importances"),
        (command("ui", name, workspace=workspace), "the MLflow UI on its trials (Ctrl-C stops it)"),
    ]
    if completed:
        steps.append((command("export", name, "--top", "3", workspace=workspace),
                      "the best configs, ready for `study train`"))
    return steps


def print_steps(console, steps: Sequence[tuple[str, str]], title: str = "next steps") -> None:
    """One pasteable line per step; the explanation follows as a shell comment."""
    width = max(len(c) for c, _ in steps)
    console.print(f"{title}:")
    for cmd, what in steps:
        console.print(f"  {cmd.ljust(width)}  # {what}", markup=False, soft_wrap=True)
