"""The ``study`` Typer application: the object every command module registers its commands on
(``study.cli.commands``), with the global options and ``study version``. ``study.cli.main`` runs it."""
from __future__ import annotations

import typer

from study import __version__

app = typer.Typer(
    help="Hyperparameter studies of adversarial training seen through energy-based models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the versions of this package and of the stack it drives."""
    from importlib import metadata

    print(f"der-study {__version__}")
    for dist in ("torch", "torchvision", "ray", "optuna", "mlflow", "torch-fidelity"):
        try:
            print(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            print(f"{dist} (not installed)")


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an unexpected error "
                                        "(allowed anywhere on the command line; also STUDY_DEBUG=1).")) -> None:
    """Hyperparameter studies of adversarial training seen through energy-based models."""
