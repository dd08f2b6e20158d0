"""Whether a checkpoint may be resumed under the current run config: the settings that decide what a run trains and
how it selects its checkpoint must be the ones it was started with.

A checkpoint's ``state.pt`` keeps the run config as it was written (``config_json``). Resuming it under a config
that differs in a setting that shapes the run would change that setting mid-run, silently: the common way is a
platform update that changed a default (issue 26 changed the masking check's, so an epoch-40 checkpoint resumed
after it would have picked its best epoch by one rule before and another after) or that added a setting the
checkpoint's config does not have. ``drift`` lists those settings; ``Trainer.load`` refuses to resume on any.

What may change: where and how a run executes (device and precision, threads, paths, loaders), what is read on
test after training (test attacks and subset), what happens after training (generation), and the epoch budget
when the learning rate does not depend on it (a constant schedule: piecewise, cyclic and cosine place their steps
at fractions of ``epochs``).
A setting the checkpoint's config lacks was added after it was written; the run so far ran as the setting's
``LEGACY`` value says (every setting added with a default that changes behaviour registers it there), or, for a
setting not registered, as ``None`` (off).
"""
from __future__ import annotations

from typing import Any

EXECUTION = frozenset({
    "name", "reference", "device", "precision", "channels_last", "compile", "deterministic", "threads",
    "data.root", "data.download", "data.num_workers", "data.loader", "data.test_subset",
    "eval.final", "eval.precision", "eval.test_pgd", "eval.autoattack", "eval.autoattack_version",
    "eval.autoattack_n", "generate",
})
# what a checkpoint written before a setting existed ran as (the setting's value that reproduces it)
LEGACY: dict[str, Any] = {
    "eval.masking.apgd_targets": 0,  # issue 26 (dd3e082): targeted APGD added to the masking check
    "eval.masking.flag": "gap",      # issue 26 (dd3e082): the binomial flag added
}
_ABSENT = object()


def drift(stored: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any, bool]]:
    """(dotted path, checkpoint's value, current value, whether the checkpoint lacks the setting) for every setting
    that shapes the run and differs."""
    out = []
    for key in sorted(set(stored) | set(current)):
        path = f"{prefix}{key}"
        if path in EXECUTION or (path == "epochs" and (current.get("schedule") or {}).get("name") == "constant"):
            continue
        a, b = stored.get(key, _ABSENT), current.get(key, _ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            out += drift(a, b, path + ".")
            continue
        lacks = a is _ABSENT
        a = LEGACY.get(path) if lacks else a
        b = None if b is _ABSENT else b
        if a != b:
            out.append((path, a, b, lacks))
    return out


def describe(found: list[tuple[str, Any, Any, bool]], where: str) -> str:
    """The refusal's words, the settings first (a study's failure summary keeps a cause's first 300 characters)."""
    def was(a, lacks):
        return f"{a!r} in the checkpoint" + (", which predates the setting" if lacks else "")

    shown = "; ".join(f"{p} ({was(a, lacks)}, {b!r} now)" for p, a, b, lacks in found[:6])
    more = f" and {len(found) - 6} more" if len(found) > 6 else ""
    return (f"resuming would change {shown}{more} mid-run: the checkpoint in {where} was written under another run "
            "config (a platform update that changed a default, or an edited config). Set these to the checkpoint's "
            "values to resume it as it was, or start the run over (delete its folder, or run a new study)")
