"""Sub-command modules; importing one registers its commands on ``study.cli.main.app``."""
from study.cli.commands import data, export, generate, report, studies, train, ui  # noqa: F401
