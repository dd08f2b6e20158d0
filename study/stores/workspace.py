"""Which workspace a command uses, defined once: ``--workspace DIR``, else ``$STUDY_WORKSPACE``, else ``./studies``.

A workspace is the folder that holds a study's stores by default (``catalog.db``, ``optuna.db``, ``mlflow.db``
and ``mlartifacts/``, Ray's storage, local runs); ``study.run.options`` validates it before anything is created.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from study.errors import UserError

WORKSPACE_ENV = "STUDY_WORKSPACE"
DEFAULT_WORKSPACE = "studies"


def trial_folder_name(ray_trial_id: str) -> str:
    """The folder Ray Tune keeps a trial's results and checkpoints in, under the study's experiment folder
    (``study.run.engine`` names it so; ``study.results.evaluate`` finds the checkpoints there)."""
    return f"trial_{ray_trial_id}"


def chosen_workspace(given: Optional[str | Path] = None) -> Path:
    """The workspace a command uses: ``given`` (``--workspace``), else ``$STUDY_WORKSPACE``, else ``./studies``."""
    return Path(given or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)


def check_writable(path: Path, not_a_folder: str, not_writable: str) -> Path:
    """``path`` must be a writable folder or creatable in one; nothing is created here.

    The nearest existing folder at or above ``path`` (``probe``) decides; the messages are formatted
    with ``path`` and ``probe``: ``not_a_folder`` when it is a file, ``not_writable`` when this user
    cannot write there."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(not_a_folder.format(path=path, probe=probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(not_writable.format(path=path, probe=probe))
    return path


def check_workspace(ws: Path) -> Path:
    """The workspace must be a writable directory (or creatable inside one); nothing is created here."""
    return check_writable(ws.expanduser().resolve(),
                          "workspace {path} is not a directory ({probe} is a file); pass --workspace DIR",
                          "workspace {path} is not writable ({probe} is read-only for this user); pass --workspace "
                          "DIR in a folder you can write to")
