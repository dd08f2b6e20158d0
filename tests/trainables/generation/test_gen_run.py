"""generate() end to end on real MNIST (tiny subset, tiny feature extractor) and load_classifier on
checkpoints written by the Trainer."""
from __future__ import annotations

import json

import pytest
import torch
from gen_helpers import register_tiny_fe
from testlib import tiny_run

from trainables.schema.config import RunConfig
from trainables.errors import CheckpointError
from trainables.generation import GenerationConfig, generate, with_overrides
from trainables.models.saved import load_classifier


def tiny_cfg(root) -> RunConfig:
    return RunConfig.model_validate(tiny_run(root, data__train_subset=300, eval__final=False))


@pytest.fixture(scope="module")
def tiny_trainer(data_root):
    from trainables.training.trainer import Trainer

    return Trainer(tiny_cfg(data_root))


def test_generate_writes_grids_and_metrics(tiny_trainer, tmp_path):
    fe = register_tiny_fe()
    cfg = with_overrides(GenerationConfig(), {
        "n": 30, "batch_size": 16, "sampler.steps": 3, "metrics.feature_extractor": fe, "metrics.kid_subsets": 5,
        "metrics.reference_n": 100, "grid.per_class": 4, "grid.nrow": 2, "device": "cpu"})
    data = tiny_trainer.data
    r = generate(tiny_trainer.model, data, cfg, tmp_path)
    assert r.samples.shape == (30, 1, 28, 28) and 0 <= r.samples.min() and r.samples.max() <= 1
    assert torch.bincount(r.labels).tolist() == [3] * 10
    assert r.class_energy is not None and r.class_energy.shape == (10,)
    assert (r.steps <= 3).all() and r.frozen.dtype == torch.bool
    names = sorted(p.name for p in r.grids)
    assert len(names) == 11 and "grid_all.png" in names and "grid_class0_0_-_zero.png" in names
    assert all((tmp_path / n).is_file() for n in names)
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["metrics"]["n_samples"] == 30 and summary["metrics"]["n_reference"] == 100
    assert {"fid", "kid_mean", "isc_mean"} <= set(summary["metrics"])
    assert summary["config"]["n"] == 30 and set(summary["sgld"]["per_class"]) == {str(c) for c in range(10)}
    assert {"class_energy_s", "init_s", "sgld_s", "metrics_s", "total_s"} <= set(summary["timing"])


def test_load_classifier_from_trainer_checkpoints(tiny_trainer, tmp_path):
    tiny_trainer.best_state = {k: v.clone() for k, v in tiny_trainer.model.state_dict().items()}
    tiny_trainer.save(tmp_path)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        want = tiny_trainer.model.eval()(x)
    for path, data in ((tmp_path, None), (tmp_path / "state.pt", None), (tmp_path / "best.pt", tiny_trainer.data)):
        model, cfg = load_classifier(path, data)
        assert cfg == tiny_trainer.cfg and not model.training
        with torch.no_grad():
            assert torch.allclose(model(x), want, atol=1e-6)


def test_load_classifier_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_classifier(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="no best.pt or state.pt"):
        load_classifier(tmp_path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a best.pt/state.pt"):
        load_classifier(tmp_path / "other.pt")


def test_missing_weights_fail_before_sampling(tiny_trainer, tmp_path, monkeypatch):
    from trainables.errors import InputError
    from trainables.generation import run

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("STUDY_OFFLINE", "1")
    monkeypatch.setattr(run, "sgld", lambda *a, **k: pytest.fail("sampled before checking the weights"))
    with pytest.raises(InputError, match="--weights"):
        generate(tiny_trainer.model, tiny_trainer.data, GenerationConfig(n=10), tmp_path)
