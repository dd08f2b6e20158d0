"""bench/ro_study.py --restore: a grid moved to a new machine gets its finished runs back from the committed traces
and skips them (issue 28: the RO grid takes about a day of a 2-core machine, longer than one session)."""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import ro_study  # noqa: E402

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
