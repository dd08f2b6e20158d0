"""bench/own_study.py's arithmetic: the console phases and the slot-second shares it prints (issue 32)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.own_study import console_phases, markdown, per_trial, slot_shares  # noqa: E402

LINES = [[6.0, "study own-1: 2 configuration(s)"], [12.0, "trial-0  epoch 1/1  best/val_robust_acc 20%  2.0 s/epoch"],
         [13.0, "trial-1  epoch 1/1  best/val_robust_acc 19%  3.0 s/epoch"],
         [14.0, "the study's answer: best 1 of 2 COMPLETE trial(s)"], [17.0, "trial 0 (rank 1): clean 30%, PGD 20%"]]
TRIALS = [{"phases": {"imports": 1.0, "epoch": 2.0, "training": 0.5, "final_eval": 1.0}},
          {"phases": {"imports": 1.0, "epoch": 3.0, "training": 1.5, "final_eval": 1.0, "report": 0.5}}]


def test_the_console_phases_start_when_the_first_epoch_began():
    ph = console_phases(LINES)
    assert ph == {"start_up_s": 10.0, "trials_s": 3.0, "answer_s": 3.0}


def test_the_shares_split_the_slot_seconds_and_sum_to_one():
    s = slot_shares(wall_s=20.0, slots=2, trials=TRIALS)
    assert s["training"] == pytest.approx(2.0 / 40) and s["validation"] == pytest.approx(3.0 / 40)
    assert s["trial_test"] == pytest.approx(2.0 / 40) and s["trial_other"] == pytest.approx(2.5 / 40)
    assert sum(s.values()) == pytest.approx(1.0)
    assert per_trial(TRIALS, epochs=1) == {"train_epoch_s": 1.0, "val_epoch_s": 1.5, "test_trial_s": 1.0}


def test_the_table_has_a_row_per_run_and_a_line_per_size():
    row = {"train_subset": 1000, "wall_s": 20.0, "longest_silence_s": 6.0, "lines": LINES, "trials": TRIALS}
    doc = {"args": {"slots": 2, "epochs": 1}, "machine": "2 CPU cores", "commit": "abcdef0123", "rows": [row, row]}
    text = markdown(doc)
    assert text.count("| 1,000 | 20.0 | 6.0 | 10.0 | 3.0 | 3.0 |") == 2
    assert "1,000 training images, 2 run(s): wall 20–20 s; training 5–5 %" in text
