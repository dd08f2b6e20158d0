"""Sub-command modules; importing one registers its commands on ``study.cli.app.app``."""
from study.cli.commands import compare, data, evaluate, export, generate, report, studies, train, ui  # noqa: F401
