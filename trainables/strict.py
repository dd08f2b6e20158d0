"""The one strict base of every typed config (run, generation, study spec).

Unknown keys are errors (a typo in a YAML must never be silently ignored), assignments are
validated, and no float field accepts infinity or NaN (YAML's ``.inf``/``.nan`` would otherwise
pass range checks such as ``gt=0`` and crash a trial deep inside an attack).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base model: extra keys forbidden, assignments validated, floats finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def resolved(self):
        """This config with every "None: derived from another field" choice filled in, as it is used and
        logged; configs with such fields override it (``RunConfig``: evaluation radius, attack BN mode)."""
        return self
