"""bench/ro_study.py --restore: a grid moved to a new machine gets its finished runs back from the committed traces
and skips them (issue 28: the RO grid takes about a day of a 2-core machine, longer than one session)."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import ro_study  # noqa: E402

from trainables.errors import InputError  # noqa: E402
from trainables.training.fit import RECORDS_FILE, read_records  # noqa: E402


def _saved(workdir: str) -> dict:
    config = {"eval": {"autoattack_n": 4}, "data": {"name": "fashion_mnist", "test_subset": 4}, "epochs": 2}
    records = [{"epoch": 1, "step": 3, "val/pgd_acc": 0.5}, {"epoch": 2, "step": 6, "val/pgd_acc": 0.6}]
    final = {"test/best/autoattack_acc": 0.5}
    return {"runs": [{"cell": "PGD-AT", "seed": 0, "workdir": workdir, "config": config, "records": records}],
            "finals": [{"cell": "PGD-AT", "seed": 0, "workdir": workdir, "config": config, "final": final,
                        "per_image": {"best/autoattack": "1010"}, "final_wall_s": 9.0}]}


def test_a_restored_run_has_its_records_and_test_readings_and_is_not_redone(tmp_path):
    packed = tmp_path / "grid.json.gz"
    with gzip.open(packed, "wt") as f:
        json.dump(_saved("/elsewhere/runs/grid-ro-fmnist-pgd-at-s0"), f)
    out = tmp_path / "out"
    assert ro_study.restore(ro_study.read_saved(packed), out) == 1
    wd = out / "runs" / "grid-ro-fmnist-pgd-at-s0"
    assert [r.epoch for r in read_records(wd / RECORDS_FILE)] == [1, 2]
    job = {**_saved(str(wd))["finals"][0], "workdir": str(wd)}
    tested = ro_study.RV.test_one(job)  # read back from the folder: a Trainer would fail on this toy config
    assert tested["per_image"] == {"best/autoattack": "1010"} and tested["final_wall_s"] == 9.0
    assert ro_study.restore(ro_study.read_saved(packed), out) == 0  # a folder already whole is left alone


def test_a_reading_is_read_back_when_only_the_per_epoch_masking_check_is_written_differently(tmp_path):
    """Runs trained before the check's settings were pinned in the grid's configs keep their test readings: the
    check picked the best epoch during training and does not enter the test attacks. Test settings still count."""
    packed = tmp_path / "grid.json.gz"
    with gzip.open(packed, "wt") as f:
        json.dump(_saved("/elsewhere/runs/grid-s0"), f)
    ro_study.restore(ro_study.read_saved(packed), tmp_path / "out")
    wd = str(tmp_path / "out" / "runs" / "grid-s0")
    job = {**_saved(wd)["finals"][0], "workdir": wd}
    pinned = {**job, "config": {**job["config"], "eval": {**job["config"]["eval"],
                                                           "masking": {"apgd_targets": 0, "flag": "gap"}}}}
    assert ro_study.RV.test_one(pinned)["final_wall_s"] == 9.0
    other_test = {**job, "config": {**job["config"], "eval": {"autoattack_n": 8}}}
    with pytest.raises(InputError):  # another test setting is attacked again: a Trainer, which finds no data here
        ro_study.RV.test_one(other_test)
    elsewhere = {**job, "config": {**job["config"], "data": {**job["config"]["data"], "root": "/another/cache"}}}
    assert ro_study.RV.test_one(elsewhere)["final_wall_s"] == 9.0  # a grid restored on another machine reads it back


def _args(*extra: str):
    return ro_study.parse(["--datasets", "fmnist", "--lambdas", "1,10", "--wds", "5e-3,2e-2,5e-2", "--no-extras",
                           "--seeds", "3", "--test-all", *extra])


def _result(cell: str, seed: int, train_adv: float) -> dict:
    from trainables.schema import records as R

    return {"dataset": "fmnist", "cell": cell, "seed": seed, "records": [{R.TRAIN_ADV_ACC: train_adv}]}


def test_later_seeds_run_only_the_weight_decay_matched_on_the_first_seeds():
    args = _args("--wd-pick-seeds", "1")
    jobs = ro_study.build_jobs(args, {"fmnist": "/data"})
    assert len(jobs) == 3 * 7
    seed0 = [_result("DER 10", 0, 0.86), _result("PGD-AT wd 0.005", 0, 0.97), _result("PGD-AT wd 0.02", 0, 0.88),
             _result("PGD-AT wd 0.05", 0, 0.55)]
    rest = ro_study.later_jobs(args, jobs, seed0)
    assert {j["seed"] for j in rest} == {1, 2}
    assert sorted({j["cell"] for j in rest}) == ["DER 1", "DER 10", "PGD-AT", "PGD-AT wd 0.02", "TRADES"]
    assert ro_study.later_jobs(_args(), jobs, seed0) == []  # without the option every seed runs every cell
    with pytest.raises(SystemExit, match="no weight decay could be matched"):  # no match cell: said, not dropped
        ro_study.later_jobs(args, jobs, [r for r in seed0 if r["cell"] != "DER 10"])


def test_wd_pick_seeds_is_refused_where_it_would_be_ignored_or_drop_every_weight_decay_cell(capsys):
    with pytest.raises(SystemExit):  # 0 would run no weight-decay cell at all
        _args("--wd-pick-seeds", "0")
    with pytest.raises(SystemExit):  # without --test-all the option would be ignored
        ro_study.parse(["--datasets", "fmnist", "--wds", "5e-3", "--wd-pick-seeds", "1"])
    assert "--wd-pick-seeds N needs" in capsys.readouterr().err


def test_the_match_is_judged_on_the_seeds_every_weight_decay_cell_has():
    """Later seeds of the picked cell alone must not move the pick (they exist only because it was picked)."""
    rs = [_result("DER 10", s, 0.86) for s in range(3)]
    rs += [_result("PGD-AT wd 0.02", 0, 0.88), _result("PGD-AT wd 0.05", 0, 0.85)]  # 0.05 nearer on seed 0
    rs += [_result("PGD-AT wd 0.05", s, 0.60) for s in (1, 2)]  # its later seeds alone would make 0.02 nearer
    assert ro_study.RV.matched_wd(rs, "fmnist", "DER 10") == "PGD-AT wd 0.05"
    assert ro_study.RV.matched_wd(rs[:3], "fmnist", "DER 10") is None  # no weight-decay cell: no baseline


def test_the_packed_command_gives_back_the_grids_settings():
    """bench/results/ro_reviewer.json.gz carries the command that made it: parsed again, it gives the same settings."""
    import shlex

    args = _args("--wd-pick-seeds", "1", "--epsilon", "12.75", "--split-per-seed", "--name", "grid")
    words = shlex.split(ro_study.command_of(vars(args)))
    assert words[:3] == ["STUDY_DATA_DIR=../shared/data", ".venv/bin/python", "bench/ro_study.py"]
    again = vars(ro_study.parse(words[3:]))
    assert {k: v for k, v in again.items() if k != "data_dir"} == {k: v for k, v in vars(args).items() if k != "data_dir"}


class _Stop(Exception):
    """A session's end, in the middle of a test reading."""


def test_a_test_reading_stopped_after_one_checkpoint_goes_on_to_the_same_readings(data_root, tmp_path, monkeypatch):
    """The grid's test reading (about 25 of a run's 30 minutes) is kept per checkpoint: stopped after "last", it
    reads only "best" again, and the result is the uninterrupted one, bit for bit."""
    import shutil

    from testlib import tiny_run
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit

    RV = ro_study.RV
    config = tiny_run(data_root, epochs=2, eval__final=False, eval__autoattack=True, eval__autoattack_n=16)
    fit(RunConfig.model_validate(config), tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    whole = RV.test_one({"workdir": str(tmp_path / "a"), "config": config})

    original = RV._per_image_eval

    def stopped_after_first_part(trainer, done=None, on_part=None):
        def keep_then_stop(which, figures, bits):
            on_part(which, figures, bits)
            raise _Stop

        return original(trainer, done, keep_then_stop)

    monkeypatch.setattr(RV, "_per_image_eval", stopped_after_first_part)
    with pytest.raises(_Stop):
        RV.test_one({"workdir": str(tmp_path / "b"), "config": config})
    parts = json.loads((tmp_path / "b" / RV.PARTIAL_FILE).read_text())["parts"]
    assert list(parts) == ["last"]
    read = []

    def recording(trainer, done=None, on_part=None):
        return original(trainer, done, lambda which, *rest: (read.append(which), on_part(which, *rest)))

    monkeypatch.setattr(RV, "_per_image_eval", recording)
    resumed = RV.test_one({"workdir": str(tmp_path / "b"), "config": config})
    assert read == ["best"]  # "last" was taken from the kept part, not attacked again
    assert resumed["final"] == whole["final"] and resumed["per_image"] == whole["per_image"]
    assert not (tmp_path / "b" / RV.PARTIAL_FILE).exists()
