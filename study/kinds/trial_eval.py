"""What each trial of a study reads on the test set at its end: the spec's ``evaluation.trials`` applied to its run.

A single run (``study train``) ends with the heavy reading of ``run.eval`` (PGD-20, PGD-50×10 and AutoAttack on
the best and the last weights): it is that run's answer. In a study every trial is selected and compared on
validation, so its own test reading answers nothing; at the defaults it cost ~100 s per trial of a 4 s training
on 2 cores (issue 32). So a study reads each trial cheaply (or not at all) and its answer strongly once
(``study.results.evaluate``). The policy depends on the spec alone (never on the data found on this machine), so the
config a worker ran and the one ``study export`` writes are the same.

>>> from study.spec.spec import StudySpec
>>> run = trial_run(StudySpec.model_validate({"run": {"data": {"name": "mnist"}}}))
>>> run.eval.test_pgd, run.eval.autoattack, run.data.test_subset
([(20, 1)], False, 500)
>>> trial_run(StudySpec.model_validate({"evaluation": {"trials": "off"}})).eval.final
False
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from study.spec.spec import StudySpec
    from trainables.schema.config import RunConfig

CHEAP_PGD = [(20, 1)]  # the per-trial reading: PGD-20, one restart (the single-run default's first reading)


def trial_run(spec: "StudySpec") -> "RunConfig":
    """The spec's run config as every trial runs it: its final test reading set by ``spec.evaluation.trials``."""
    ev = spec.evaluation
    run = spec.run.model_copy(deep=True)
    if ev.trials == "off":
        run.eval.final = False
    elif ev.trials == "cheap":
        run.eval.test_pgd = list(CHEAP_PGD)
        run.eval.autoattack = False
        run.data.test_subset = _cheap_subset(run, ev.trial_images)
    return run


def _cheap_subset(run: "RunConfig", images: int):
    """The first ``images`` test images: ``data.test_subset`` lowered to it, and set to it for a dataset whose
    published test set is larger (an imagefolder's size is not known from its config: left as written)."""
    from trainables.data.facts import PUBLISHED

    given = run.data.test_subset
    if given is not None:
        return min(given, images)
    published = PUBLISHED.get(run.data.name)
    return images if published and published[1] > images else None


def describe(spec: "StudySpec") -> str:
    """The trials' test reading in a few words, for the first line a study prints."""
    ev = spec.evaluation
    if ev.trials == "off":
        return "no test reading per trial"
    if ev.trials == "cheap":
        n = _cheap_subset(spec.run, ev.trial_images)
        return f"each trial read on test by clean and PGD-20 accuracy ({n or 'all'} images)"
    return "each trial read on test as run.eval says"
