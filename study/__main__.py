"""``python -m study``: the same as the ``study`` script."""
from study.cli.main import entry

entry()
