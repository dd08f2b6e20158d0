"""User-facing errors of the study layer (bad spec, storage URL, cluster address, workspace)."""
from __future__ import annotations

from trainables.errors import InputError


class UserError(InputError):
    """Bad input at the study level; printed as one paragraph, exit code 2, nothing changed."""
