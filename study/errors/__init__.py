"""User-facing errors of the study layer (bad spec, storage URL, cluster address, workspace)."""
from __future__ import annotations

from trainables.errors import InputError


class UserError(InputError):
    """Bad input at the study level; printed as one paragraph, exit code 2, nothing changed."""


class Fault(Exception):
    """The surroundings failed, not the input and not the platform: a busy machine, a full or read-only disk,
    a server or database that does not answer. Printed as one paragraph naming the fault and its fix, followed
    by what was kept and how to continue (``study.cli.main``); exit code 1, the traceback in the study's log."""
