"""The one strict base of every typed config (run, generation, study spec).

Unknown keys are errors (a typo in a YAML must never be silently ignored), assignments are
validated, and no float field accepts infinity or NaN (YAML's ``.inf``/``.nan`` would otherwise
pass range checks such as ``gt=0`` and crash a trial deep inside an attack).
"""
from __future__ import annotations

import math
from typing import Optional

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base model: extra keys forbidden, assignments validated, floats finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def resolved(self):
        """This config with every "None: derived from another field" choice filled in, as it is used and
        logged; configs with such fields override it (``RunConfig``: evaluation radius, attack BN mode)."""
        return self


def non_finite(value: object, path: str = "") -> Optional[str]:
    """The path of the first infinite or NaN float inside ``value`` (nested lists and mappings), or None.

    The same rule as ``allow_inf_nan=False``, for fields typed ``Any`` (a search's ``choice`` values),
    which pydantic cannot check by type.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(the value)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for k, v in items:
        hit = non_finite(v, f"{path}[{k}]" if isinstance(k, int) else f"{path}.{k}".lstrip("."))
        if hit:
            return hit
    return None
