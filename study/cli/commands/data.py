"""``study data``: prepare (unpack a zip into the imagefolder layout) and inspect where datasets are found."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from study.cli.app import app

data_app = typer.Typer(help="Prepare and locate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
out = Console(highlight=False)


@data_app.command("unpack")
def unpack(
    zip_path: Path = typer.Argument(..., help="Zip holding train/<class>/<image> and test/<class>/<image>."),
    dest: Path = typer.Argument(..., help="Folder to unpack into (becomes data.root of an imagefolder run)."),
) -> None:
    """Unpack an image zip into the imagefolder layout (a second run is a no-op)."""
    from trainables.data.unpack import unpack_zip

    counts = unpack_zip(zip_path, dest)
    out.print(f"unpacked {zip_path} into {dest}")
    table = Table()
    table.add_column("split")
    table.add_column("images", justify="right")
    for split, n in counts.items():
        table.add_row(split, f"{n:,}")
    out.print(table)
    out.print(f"use it with: data.name: imagefolder, data.root: {dest.expanduser().absolute()}")


@data_app.command("info")
def info(
    name: Optional[str] = typer.Option(None, "--name", "-n", help="One dataset; default: every registered one."),
    root: Optional[Path] = typer.Option(None, "--root", "-r", help="Data root; default: $STUDY_DATA_DIR, else the cache."),
) -> None:
    """Say where a dataset would be looked for and whether it is there (exit code 1 when not found)."""
    from trainables.schema.config import DataConfig
    from trainables.data import DATASETS, cache_dir, locate

    names = [name] if name else DATASETS.names()
    locations = [locate(DataConfig(name=n, root=str(root) if root else None, download=False)) for n in names]
    out.print(f"cache: {cache_dir()}")
    if name:
        loc = locations[0]
        for note in loc.notes:
            out.print(note)
        out.print("searched:")
        for d in loc.searched:
            out.print(f"  {d}")
        colour = "green" if loc.found else "red"
        out.print(f"{loc.name}: [{colour}]{loc.detail}[/{colour}]")
        if loc.found:
            out.print(f"found at: {loc.found}")
    else:
        if locations and locations[0].notes:
            out.print(locations[0].notes[0])
        table = Table()
        for col in ("dataset", "state", "found at"):
            table.add_column(col, overflow="fold")
        for loc in locations:
            colour = "green" if loc.found else "red"
            table.add_row(loc.name, f"[{colour}]{loc.state}[/{colour}]", str(loc.found or ""))
        out.print(table)
        out.print("`study data info --name NAME` shows the folders searched and what is missing.")
    if name and not locations[0].found:
        raise typer.Exit(1)
