"""A checkpoint resumes only under the settings it was trained with (trainables/training/drift.py): a platform update
that changed a default, or added a setting, must not change a run mid-way without a word."""
import json

import pytest
import torch

from testlib import tiny_run
from trainables.errors import CheckpointError, ConfigDriftError, InputError
from trainables.schema.config import RunConfig
from trainables.training import drift as D
from trainables.training.fit import CKPT_DIR, fit, read_records, RECORDS_FILE
from trainables.training.resume import restore
from trainables.training.trainer import Trainer

# Every setting of RunConfig when drift.py was written. A new one must say how a checkpoint written before it ran:
# its value that reproduces that in drift.LEGACY (unless that is None), or drift.EXECUTION if it cannot change a
# run; then add it here.
KNOWN = {
    "batch_size", "channels_last", "compile", "data.augment", "data.download", "data.image_size", "data.loader",
    "data.name", "data.num_workers", "data.root", "data.split_seed", "data.test_subset", "data.train_subset",
    "data.val_size", "der.energy_weights", "der.joint_weight", "der.natural_at", "der.rho", "der.weight",
    "deterministic", "device", "epochs", "eval.autoattack", "eval.autoattack_n", "eval.autoattack_version",
    "eval.batch_size", "eval.energy_trace", "eval.epsilon", "eval.final", "eval.masking.apgd_dlr",
    "eval.masking.apgd_steps", "eval.masking.apgd_targets", "eval.masking.flag", "eval.masking.n",
    "eval.masking.square_queries", "eval.masking.threshold", "eval.norm", "eval.pgd_alpha", "eval.precision",
    "eval.probe_pgd_steps", "eval.probe_size", "eval.report_every", "eval.test_pgd", "eval.trace_every",
    "eval.val_pgd_steps", "eval.val_restarts", "generate", "method.alpha", "method.attack", "method.attack_bn_mode",
    "method.clip_start", "method.epsilon", "method.gradalign_lambda", "method.name", "method.noise_k", "method.norm",
    "method.steps", "method.trades_beta", "model.batchnorm", "model.name", "model.normalize", "model.width", "name",
    "optim.betas", "optim.lr", "optim.momentum", "optim.name", "optim.nesterov", "optim.weight_decay", "precision",
    "reference", "schedule.gamma", "schedule.milestone_drop", "schedule.milestones", "schedule.name",
    "schedule.warmup_fraction", "seed", "threads"}


def _paths(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _paths(v, prefix + k + ".")
        else:
            yield prefix + k


def test_a_new_setting_says_how_checkpoints_from_before_it_ran():
    new = set(_paths(RunConfig().model_dump(mode="json"))) - KNOWN
    assert not new, (f"new run settings {sorted(new)}: give each the value that reproduces runs from before it in "
                     "trainables/training/drift.py LEGACY (or list it in EXECUTION), then add it to KNOWN here")
    assert set(D.LEGACY) <= KNOWN and D.EXECUTION <= KNOWN


def test_drift_names_changed_and_missing_settings_and_ignores_execution():
    stored = {"epochs": 5, "threads": 1, "schedule": {"name": "constant"}, "data": {"root": "/a", "val_size": 128},
              "eval": {"masking": {"n": 64, "square_queries": 300}}}
    current = {"epochs": 9, "threads": 2, "schedule": {"name": "constant"}, "data": {"root": "/b", "val_size": 128},
               "eval": {"masking": {"n": 64, "square_queries": 1000, "apgd_targets": 3, "flag": "gap"},
                        "report_every": None}}
    assert D.drift(stored, current) == [("eval.masking.apgd_targets", 0, 3, True),
                                        ("eval.masking.square_queries", 300, 1000, False)]
    assert D.drift(current, current) == []


def test_the_epoch_budget_may_grow_only_where_the_learning_rate_does_not_hang_on_it():
    stored = {"epochs": 100, "schedule": {"name": "piecewise", "milestones": [0.5, 0.75]}}
    assert [p for p, *_ in D.drift(stored, {**stored, "epochs": 200})] == ["epochs"]  # milestones would move
    constant = {"epochs": 100, "schedule": {"name": "constant"}}
    assert D.drift(constant, {**constant, "epochs": 200}) == []


def _written_by_an_older_version(workdir):
    """Make a checkpoint look written before ``eval.masking.apgd_targets`` existed (it then ran without it: 0)."""
    state_path = workdir / CKPT_DIR / "state.pt"
    state = torch.load(state_path, weights_only=True)
    old = json.loads(state["config_json"])
    del old["eval"]["masking"]["apgd_targets"]
    state["config_json"] = json.dumps(old)
    torch.save(state, state_path)


def test_a_checkpoint_from_before_a_default_changed_is_not_resumed_silently(data_root, tmp_path):
    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, eval__final=False))
    assert cfg.eval.masking.apgd_targets == 3  # today's default
    fit(cfg, tmp_path / "r")
    _written_by_an_older_version(tmp_path / "r")
    longer = cfg.model_copy(update={"epochs": 2})
    said = r"resuming would change eval\.masking\.apgd_targets \(0 in the checkpoint, which predates the setting, 3 now\)"
    with pytest.raises(ConfigDriftError, match=said) as e:
        fit(longer, tmp_path / "r")
    assert isinstance(e.value, InputError) and "start the run over" in str(e.value)
    assert [r.epoch for r in read_records(tmp_path / "r" / RECORDS_FILE)] == [1]  # nothing recorded was touched
    pinned = RunConfig.model_validate(tiny_run(data_root, epochs=2, eval__final=False, eval__masking__apgd_targets=0))
    assert [r.epoch for r in fit(pinned, tmp_path / "r").records] == [1, 2]  # the old setting, stated: it goes on


def test_execution_settings_may_change_and_a_test_reading_may_load_any_checkpoint(data_root, tmp_path):
    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, eval__final=False))
    fit(cfg, tmp_path / "r")
    Trainer(cfg.model_copy(update={"threads": 2, "epochs": 3})).load(tmp_path / "r" / CKPT_DIR)  # resumes
    _written_by_an_older_version(tmp_path / "r")
    t = Trainer(cfg)
    t.load(tmp_path / "r" / CKPT_DIR, resume=False)  # the weights alone, for a test reading
    assert t.epoch == 1


class _Folder:
    """A checkpoint folder as a Ray Tune Checkpoint gives it (path, pyarrow filesystem, as_directory)."""

    def __init__(self, path):
        from pyarrow import fs

        self.path, self.filesystem = str(path), fs.LocalFileSystem()

    def as_directory(self):
        import contextlib

        return contextlib.nullcontext(self.path)


def test_a_refused_resume_fails_the_trial_instead_of_passing_for_a_torn_checkpoint(data_root, tmp_path):
    """Ray Tune's restore skips torn checkpoints (CheckpointError) and starts afresh; a refusal must not be one."""
    assert not issubclass(ConfigDriftError, CheckpointError)
    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, eval__final=False))
    fit(cfg, tmp_path / "r")
    _written_by_an_older_version(tmp_path / "r")
    with pytest.raises(ConfigDriftError):
        restore(_Folder(tmp_path / "r" / CKPT_DIR), Trainer(cfg).load)
