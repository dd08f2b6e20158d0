"""Options shared by several commands."""
from __future__ import annotations

from typing import Optional

import typer

Workspace = typer.Option(None, "--workspace", "-w", help="Workspace folder (default ./studies or $STUDY_WORKSPACE).")


def finite_at_least(low: float):
    """Option callback: a finite number >= ``low`` (infinity and NaN are refused, as for every config float)."""
    import math

    def check(value: Optional[float]) -> Optional[float]:
        if value is not None and not math.isfinite(value):
            raise typer.BadParameter(f"{value} is not a finite number; give a number such as 2")
        if value is not None and value < low:
            raise typer.BadParameter(f"{value:g} is below {low:g}; give at least {low:g}")
        return value

    return check


def workspace_path(ws: Optional[str]):
    from study.stores.workspace import check_workspace, chosen_workspace

    return check_workspace(chosen_workspace(ws))
