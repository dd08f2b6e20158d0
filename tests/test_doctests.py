"""The examples in the docstrings of the public science and study API run as tests (issue 19)."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "trainables.energy.energies", "trainables.energy.der", "trainables.attacks", "trainables.attacks.autoattack", "trainables.training.optimizers",
    "trainables.evaluation.defaults", "study.stopping.rules", "study.stopping.outcome",
    "study.kinds.trial_eval", "study.console.phases", "study.results.answer", "study.console.explain", "study.cli.train_summary",  # issue 32
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
