"""The closest known spelling of a mistyped key, name or study name ("did you mean …?").

One helper for every place that refuses an unknown word (config keys, registry names, search
parameters, metrics, study names), so they all suggest the same way (``difflib``'s ratio ≥ 0.6).
"""
from __future__ import annotations

import difflib
from typing import Iterable, Optional


def closest(word: object, choices: Iterable[object], cutoff: float = 0.6) -> Optional[str]:
    """The known choice closest to ``word`` (case-insensitive), or None when nothing is close."""
    names = [str(c) for c in choices]
    lower = {n.lower(): n for n in names}
    hit = difflib.get_close_matches(str(word).lower(), list(lower), n=1, cutoff=cutoff)
    return lower[hit[0]] if hit else None


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when none is close."""
    hit = closest(word, choices)
    return f" (did you mean {hit!r}?)" if hit is not None and hit != str(word) else ""
