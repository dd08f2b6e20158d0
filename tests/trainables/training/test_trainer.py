"""The training loop on real MNIST: records, exact resume, selection, NaN, checkpoints."""
import json
import math
import pickle

import pytest
import torch

from testlib import tiny_run
from trainables.schema import records as R
from trainables.attacks import build_attack
from trainables.schema.config import RunConfig
from trainables.errors import CheckpointError, InputError
from trainables.evaluation.evaluate import robust_accuracy
from trainables.training.fit import RECORDS_FILE, fit, read_records
from trainables.training.trainer import Trainer


def cfg(root, **over):
    return RunConfig.model_validate(tiny_run(root, **over))


@pytest.fixture(scope="module")
def trained(data_root):
    """A tiny model trained for 3 epochs with RS-FGSM (shared by several tests)."""
    t = Trainer(cfg(data_root, epochs=3, method__name="rs_fgsm", data__train_subset=2048))
    recs = [t.train_epoch() for _ in range(3)]
    return t, recs


def test_record_has_every_metric(trained):
    _, recs = trained
    m = recs[-1].metrics
    for key in (R.LR, R.LOSS_METHOD, R.LOSS_DER, R.TRAIN_CLEAN_ACC, R.TRAIN_ADV_ACC, R.VAL_CLEAN_ACC, R.VAL_PGD_ACC,
                R.PROBE_PGD_ACC, R.PROBE_DELTA_MEAN, R.TIME_EPOCH, R.TIME_IPS, R.BEST_EPOCH, R.BEST_VAL_PGD):
        assert key in m, key
    for split in R.TRACE_SPLITS:
        for stat in R.TRACE_STATS:
            assert R.energy_key(split, stat) in m
    assert [r.epoch for r in recs] == [1, 2, 3]
    assert 0 <= m[R.VAL_PGD_ACC] <= m[R.VAL_CLEAN_ACC] <= 1


def test_pgd10_finds_at_least_as_many_errors_as_fgsm(trained):
    t, _ = trained
    batches = list(t.data.val_batches(128))
    torch.manual_seed(0)
    fgsm = robust_accuracy(t.model, batches, build_attack("fgsm", 51, bn="eval"))["adv_acc"]
    pgd = robust_accuracy(t.model, batches, build_attack("pgd", 51, steps=10, bn="eval"))["adv_acc"]
    assert pgd <= fgsm


def test_evaluation_restores_train_mode(trained):
    t, _ = trained
    t.model.train()
    robust_accuracy(t.model, list(t.data.val_batches(128))[:1], build_attack("pgd", 51, steps=1))
    assert t.model.training


def test_best_selected_on_the_masking_checked_validation_reading(trained):
    t, recs = trained
    # the rule: the highest val/robust_acc, flagged or not (the earliest on a tie); the flag goes with it
    best = max(recs, key=lambda r: (r.metrics[R.VAL_ROBUST_ACC], -r.epoch))
    assert recs[-1].metrics[R.BEST_VAL_ROBUST] == best.metrics[R.VAL_ROBUST_ACC]
    assert recs[-1].metrics[R.BEST_VAL_PGD] == best.metrics[R.VAL_PGD_ACC]
    assert t.best_epoch == best.epoch
    assert recs[-1].metrics[R.BEST_MASKED] == best.metrics[R.VAL_MASKED]
    for r in recs:
        m = r.metrics
        assert m[R.VAL_ROBUST_ACC] == pytest.approx(m[R.VAL_PGD_ACC] - m[R.VAL_MASKING_GAP])
        assert 0 <= m[R.VAL_MASKING_GAP] <= m[R.VAL_PGD_ACC] and m[R.VAL_MASKED] in (0.0, 1.0)


def test_resumed_run_reproduces_uninterrupted_records(data_root, tmp_path):
    c = cfg(data_root, epochs=3, deterministic=True, der__weight=0.5)
    full = fit(c, tmp_path / "full")
    part_dir = tmp_path / "part"
    fit(c.model_copy(update={"epochs": 3}), part_dir, callbacks=[lambda r: "interrupt" if r.epoch == 1 else None])
    assert [r.epoch for r in read_records(part_dir / RECORDS_FILE)] == [1]
    resumed = fit(c, part_dir)  # picks up the checkpoint of epoch 1
    skip = {R.TIME_EPOCH, R.TIME_TRAIN, R.TIME_IPS, R.STOP_EPOCH}
    a = [{k: v for k, v in r.flat().items() if k not in skip} for r in full.records]
    b = [{k: v for k, v in r.flat().items() if k not in skip} for r in resumed.records]
    assert [r["epoch"] for r in b] == [1, 2, 3]
    assert a[1:] == b[1:]
    assert full.final == resumed.final


def test_nan_loss_stops_with_reason(data_root, tmp_path):
    res = fit(cfg(data_root, epochs=3, optim__lr=1e12), tmp_path / "nan")
    assert res.stop_reason == "nan"
    assert res.records[-1].metrics[R.NONFINITE] == 1.0
    assert json.loads((tmp_path / "nan" / "final.json").read_text())["stop_reason"] == "nan"


def test_truncated_checkpoint_names_the_file(data_root, tmp_path):
    fit(cfg(data_root, epochs=1, eval__final=False), tmp_path / "r")
    state = tmp_path / "r" / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="state.pt"):
        Trainer(cfg(data_root)).load(tmp_path / "r" / "checkpoint")


def test_malicious_pickle_is_refused(data_root, tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('/tmp/pwned_by_checkpoint', 'w').write('x')",))

    d = tmp_path / "evil"
    d.mkdir()
    torch.save({"format": 1, "payload": Evil()}, d / "state.pt")
    with pytest.raises(CheckpointError, match="weights_only"):
        Trainer(cfg(data_root)).load(d)
    import os
    assert not os.path.exists("/tmp/pwned_by_checkpoint")


def test_checkpoint_of_another_model_is_a_clear_error(data_root, tmp_path):
    fit(cfg(data_root, epochs=1, eval__final=False), tmp_path / "r")
    other = Trainer(cfg(data_root, model__width=4))
    with pytest.raises(InputError, match=r"resuming would change model\.width \(8 in the checkpoint, 4 now\)"):
        other.load(tmp_path / "r" / "checkpoint")
    with pytest.raises(CheckpointError, match="does not fit"):  # the weights alone do not fit either
        other.load(tmp_path / "r" / "checkpoint", resume=False)


def test_final_evaluation_best_and_last(data_root, tmp_path):
    res = fit(cfg(data_root, epochs=2), tmp_path / "f")
    for which in ("best", "last"):
        assert 0 <= res.final[f"test/{which}/pgd3x1_acc"] <= res.final[f"test/{which}/clean_acc"] <= 1
    assert res.final["test/best/epoch"] in (1.0, 2.0)


def test_a_run_folder_never_resumes_another_config(data_root, tmp_path):
    fit(cfg(data_root, epochs=1, eval__final=False), tmp_path / "r")
    with pytest.raises(InputError, match=r"resuming would change der\.weight"):
        fit(cfg(data_root, epochs=1, eval__final=False, der__weight=1.0), tmp_path / "r")
    # more epochs of the same run is a legitimate continuation
    assert [r.epoch for r in fit(cfg(data_root, epochs=2, eval__final=False), tmp_path / "r").records] == [1, 2]
