"""What ``study train`` prints after its last epoch: which epoch's weights it kept as best and why, then its final
readings in words and units (issue 32: not raw keys such as ``gen/metrics_s 8.18e-06``)."""
from __future__ import annotations

from study.console.display import fmt


def best_checkpoint_line(records, epochs: int) -> str:
    """The run's selected epoch, its reading and its MASKED flag, from its last epoch record ('' before one)."""
    import math

    from study.console.explain import train_best
    from trainables.schema import records as R

    last = next((r for r in reversed(records) if not r.partial), None)
    if last is None:
        return ""
    m = last.metrics
    reading = m.get(R.BEST_VAL_ROBUST)
    finite = reading if isinstance(reading, (int, float)) and math.isfinite(reading) else None
    best = m.get(R.BEST_EPOCH) if finite is not None else None
    return train_best(best, epochs, finite, bool(m.get(R.BEST_MASKED)))


def final_lines(final: dict) -> list[str]:
    """One line per tested checkpoint (best, last) with each reading named, then generation's metrics with their
    units (timings in s), then anything else.

    >>> final_lines({"test/best/clean_acc": 0.98, "test/best/pgd20x1_acc": 0.5, "test/best/epoch": 4.0,
    ...              "gen/metrics_s": 8.18e-06})
    ['test, best checkpoint (epoch 4): clean 98.0%, PGD-20x1 50.0%', 'generation: metrics_s 0.0 s']
    """
    from study.results.answer import label
    from trainables.schema import records as R

    lines = []
    for which in ("best", "last"):
        keys = sorted(k for k in final if k.startswith(R.test_key(which, "")) and k.endswith("_acc"))
        keys.sort(key=lambda k: not k.endswith("clean_acc"))
        if keys:
            epoch = final.get(R.test_key(which, "epoch"))
            at = f" (epoch {epoch:g})" if isinstance(epoch, (int, float)) else ""
            lines.append(f"test, {which} checkpoint{at}: " + ", ".join(f"{label(k)} {fmt(k, final[k])}" for k in keys))
    gen = {k: v for k, v in final.items() if k.startswith(R.GEN_PREFIX)}
    if gen:
        lines.append("generation: " + ", ".join(f"{k.removeprefix(R.GEN_PREFIX)} {fmt(k, v)}"
                                                 for k, v in sorted(gen.items())))
    rest = {k: v for k, v in final.items() if not k.startswith((R.TEST_PREFIX, R.GEN_PREFIX))}
    return lines + [f"{k} {fmt(k, v)}" for k, v in sorted(rest.items())]
