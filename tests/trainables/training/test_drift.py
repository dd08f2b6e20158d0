"""A checkpoint resumes only under the settings it was trained with (trainables/training/drift.py): a platform update
that changed a default, or added a setting, must not change a run mid-way without a word."""
import json

import pytest
import torch
import yaml

from testlib import tiny_run
from trainables.errors import ConfigDriftError, InputError
from trainables.schema.config import RunConfig
from trainables.training.drift import drift
from trainables.training.fit import CKPT_DIR, CONFIG_FILE, fit, read_records, RECORDS_FILE
from trainables.training.trainer import Trainer


def test_drift_names_changed_and_missing_settings_and_ignores_execution():
    stored = {"epochs": 5, "threads": 1, "data": {"root": "/a", "val_size": 128},
              "eval": {"masking": {"n": 64, "square_queries": 300}}}
    current = {"epochs": 9, "threads": 2, "data": {"root": "/b", "val_size": 128},
               "eval": {"masking": {"n": 64, "square_queries": 1000, "apgd_targets": 3}}}
    assert drift(stored, current) == [("eval.masking.apgd_targets", None, 3),
                                      ("eval.masking.square_queries", 300, 1000)]
    assert drift(current, current) == []


def _written_by_an_older_version(workdir):
    """Make a checkpoint look written before ``eval.masking.apgd_targets`` existed (its default then: none)."""
    state_path = workdir / CKPT_DIR / "state.pt"
    state = torch.load(state_path, weights_only=True)
    old = json.loads(state["config_json"])
    del old["eval"]["masking"]["apgd_targets"]
    state["config_json"] = json.dumps(old)
    torch.save(state, state_path)
    raw = yaml.safe_load((workdir / CONFIG_FILE).read_text())
    del raw["eval"]["masking"]["apgd_targets"]
    (workdir / CONFIG_FILE).write_text(yaml.safe_dump(raw, sort_keys=False))


def test_a_checkpoint_from_before_a_setting_existed_is_not_resumed_silently(data_root, tmp_path):
    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, eval__final=False))
    fit(cfg, tmp_path / "r")
    _written_by_an_older_version(tmp_path / "r")
    longer = cfg.model_copy(update={"epochs": 2})
    said = r"resuming would change eval\.masking\.apgd_targets \(absent in the checkpoint, 3 now\)"
    with pytest.raises(ConfigDriftError, match=said) as e:
        fit(longer, tmp_path / "r")
    assert isinstance(e.value, InputError) and "start the run over" in str(e.value)
    assert [r.epoch for r in read_records(tmp_path / "r" / RECORDS_FILE)] == [1]  # nothing recorded was touched


def test_execution_settings_may_change_and_a_test_reading_may_load_any_checkpoint(data_root, tmp_path):
    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, eval__final=False))
    fit(cfg, tmp_path / "r")
    Trainer(cfg.model_copy(update={"threads": 2, "epochs": 3})).load(tmp_path / "r" / CKPT_DIR)  # resumes
    _written_by_an_older_version(tmp_path / "r")
    t = Trainer(cfg)
    t.load(tmp_path / "r" / CKPT_DIR, resume=False)  # the weights alone, for a test reading
    assert t.epoch == 1
