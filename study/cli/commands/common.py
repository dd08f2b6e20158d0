"""Options shared by several commands."""
from __future__ import annotations

from typing import Optional

import typer

Workspace = typer.Option(None, "--workspace", "-w", help="Workspace folder (default ./studies or $STUDY_WORKSPACE).")


def workspace_path(ws: Optional[str]):
    from study.options import check_workspace, DEFAULT_WORKSPACE
    import os
    from pathlib import Path

    return check_workspace(Path(ws or os.environ.get("STUDY_WORKSPACE") or DEFAULT_WORKSPACE))
