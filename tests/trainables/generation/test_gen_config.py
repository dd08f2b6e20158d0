"""GenerationConfig: method.md §8 defaults, strict keys, registry-checked init names, dotted overrides."""
from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from trainables.generation import GenerationConfig, with_overrides


def test_defaults_are_method_md():
    c = GenerationConfig()
    assert c.init.name == "pca" and c.init.retained_variance == 0.95 and c.init.sigma == 0.01
    s = c.sampler
    assert (s.steps, s.step_size, s.noise_std, s.guidance, s.adaptive_stop) == (40, 1.0, 0.001, True, True)
    assert c.metrics.fid and c.metrics.feature_extractor == "inception-v3-compat" and c.n == 10_000


def test_unknown_keys_and_inits_are_errors():
    with pytest.raises(ValidationError, match="extra"):
        GenerationConfig.model_validate({"sampler": {"stepsize": 1.0}})
    with pytest.raises(ValidationError, match="allowed: class_gaussian, local_pca, pca, uniform"):
        GenerationConfig.model_validate({"init": {"name": "gan"}})


def test_overrides():
    c = with_overrides(GenerationConfig(), {"sampler.step_size": 0.5, "init.name": "local_pca", "n": 10})
    assert (c.sampler.step_size, c.init.name, c.n) == (0.5, "local_pca", 10)
    with pytest.raises(KeyError, match="sampler.nope"):
        with_overrides(GenerationConfig(), {"sampler.nope": 1})


def test_importing_does_not_import_torch_fidelity():
    code = "import sys, trainables.generation; sys.exit('torch_fidelity' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
