"""What a Ctrl-C or a fault during ``study run`` / ``resume`` prints to go on: ``study resume NAME`` once the
study is in the catalog, else the ``study run`` command again. Set by the commands, read by the crash
handler and ``study.run.interrupt``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from study.console.hints import command


def set_rerun(name: Optional[str], workspace: Optional[Path] = None, run_args: Sequence[str] = ()) -> None:
    """What a Ctrl-C from now on prints: ``study resume NAME`` once the study is in the catalog, else the
    ``study run`` command again (``run_args``); ``None`` clears it."""
    global _rerun
    from study.run import interrupt

    _rerun = None if name is None else (name, workspace, tuple(run_args))
    interrupt.set_resume_hint(None if name is None else (lambda: continuation()[1]))


_rerun: Optional[tuple[str, Optional[Path], tuple[str, ...]]] = None


def continuation() -> tuple[bool, Optional[str]]:
    """(whether the study is recorded, the command that continues it): ``study resume NAME`` once the study is
    in the catalog, else the ``study run`` command again; (False, None) outside `study run` / `resume`."""
    if _rerun is None:
        return False, None
    name, workspace, run_args = _rerun
    from study.stores.catalog import CATALOG_FILE, Catalog

    try:
        recorded = (Path(workspace) / CATALOG_FILE).exists() and Catalog.open(workspace).exists(name)
    except Exception:  # noqa: BLE001 - a catalog that cannot be read now (a locked or vanished workspace)
        recorded = (Path(workspace) / CATALOG_FILE).exists()
    if recorded:
        return True, command("resume", name, workspace=workspace)
    return False, command("run", *run_args, "--name", name, workspace=workspace)
