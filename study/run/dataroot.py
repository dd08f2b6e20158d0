"""The data root a workspace remembers, so that a new shell finds the data without ``$STUDY_DATA_DIR``.

``study run`` records in the catalog the data root its trials resolve (``data.root``, else
``$STUDY_DATA_DIR``, else the cache: ``trainables.data.resolve_root``). Later, when neither the
config's ``data.root`` nor ``$STUDY_DATA_DIR`` says where the data is, ``study run``, ``resume``
and ``train`` in that workspace use the remembered root, and ``study export`` writes it into the
exported configs. What the user sets explicitly always wins.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from trainables.data.roots import DATA_ENV


def configured(spec) -> Optional[str]:
    """The ``data.root`` a study spec sets for its trials (None: none set, or no dataset by config)."""
    from study.kinds import KINDS

    data = KINDS[spec.kind].data_config(spec)
    return data.root if data is not None else None


def resolved(spec) -> Optional[str]:
    """The data root the trials of ``spec`` read, as this machine resolves it (None: no dataset by config)."""
    from study.kinds import KINDS
    from trainables.data import resolve_root

    data = KINDS[spec.kind].data_config(spec)
    return str(resolve_root(data)) if data is not None else None


def adopt(workspace: Path, config_root: Optional[str], study: Optional[str] = None) -> Optional[str]:
    """Use the workspace's remembered data root when the config and the environment name none.

    Sets ``$STUDY_DATA_DIR`` for this process and the local Ray workers it starts, and returns the
    root adopted (None: the user's setting stands, or nothing is remembered). A relative ``$STUDY_DATA_DIR``
    is made absolute here, against the directory the command was started in, before any worker starts.
    """
    from study.stores.catalog import CATALOG_FILE, Catalog

    env = os.environ.get(DATA_ENV)
    if env and not Path(env).expanduser().is_absolute():
        # Ray Tune runs each trial in its own folder: a relative root would be looked up there, not here
        os.environ[DATA_ENV] = os.path.abspath(Path(env).expanduser())
    if config_root or os.environ.get(DATA_ENV) or not (Path(workspace) / CATALOG_FILE).exists():
        return None
    cat = Catalog.open(workspace)
    root = (cat.data_root(study) if study and cat.exists(study) else None) or cat.data_root()
    if root:
        os.environ[DATA_ENV] = root
    return root


def note(root: str, workspace: Path) -> str:
    return (f"data root {root} (remembered by the workspace {workspace}; set data.root or ${DATA_ENV} to use "
            f"another)")
