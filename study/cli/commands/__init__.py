"""Sub-command modules; importing one registers its commands on ``study.cli.main.app``."""
from study.cli.commands import compare, data, evaluate, export, generate, report, studies, train, ui  # noqa: F401
