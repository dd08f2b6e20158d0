"""Whether a checkpoint may be resumed under the current run config: the settings that decide what a run trains and
how it selects and reads its checkpoints must be the ones it was started with.

A checkpoint's ``state.pt`` keeps the run config as it was written (``config_json``). Resuming it under a config
that differs in a setting that shapes the run would change that setting mid-run, silently: the common way is a
platform update that changed a default (issue 26 changed the masking check's, so an epoch-40 checkpoint resumed
after it would have picked its best epoch by one rule before and another after) or that added a setting the
checkpoint's config does not have. ``drift`` lists those settings; ``Trainer.load`` refuses to resume on any.
Settings of where and how fast a run executes (device, threads, paths, the epoch budget, what to do after
training) may change between a checkpoint and its resume.
"""
from __future__ import annotations

from typing import Any

# dotted paths that may differ between a checkpoint and its resume: execution, not the run's science
EXECUTION = ("name", "epochs", "device", "threads", "compile", "channels_last", "precision", "generate",
             "data.root", "data.download", "data.num_workers", "eval.final")

_ABSENT = object()


def drift(stored: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted path, checkpoint's value, current value) for every setting outside ``EXECUTION`` that differs; a
    setting the checkpoint's config does not have reads as ``None`` there (it was written before the setting
    existed, so the run so far did without it)."""
    out = []
    for key in sorted(set(stored) | set(current)):
        path = f"{prefix}{key}"
        if path in EXECUTION:
            continue
        a, b = stored.get(key, _ABSENT), current.get(key, _ABSENT)
        if isinstance(a, dict) and isinstance(b, dict):
            out += drift(a, b, path + ".")
        elif a is _ABSENT and b is _ABSENT:
            continue
        elif a != b:
            out.append((path, None if a is _ABSENT else a, None if b is _ABSENT else b))
    return out


def describe(found: list[tuple[str, Any, Any]], where: str) -> str:
    """The refusal's words, the settings first (a study's failure summary keeps a cause's first 300 characters)."""
    shown = "; ".join(f"{p} ({'absent' if a is None else repr(a)} in the checkpoint, {b!r} now)" for p, a, b in found[:6])
    more = f" and {len(found) - 6} more" if len(found) > 6 else ""
    return (f"resuming would change {shown}{more} mid-run: the checkpoint in {where} was written under another run "
            "config (a platform update that changed a default, or an edited config). Set these to the checkpoint's "
            "values to resume it as it was, or start the run over (delete its folder, or run a new study)")
