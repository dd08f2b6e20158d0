"""bench/ro_reviewer.py's headline: paired bootstrap intervals over seeds and images (issue 28). An interval is a
function of the readings it compares, so a row of the replayed table stays as it is while other cells' runs arrive."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import ro_reviewer  # noqa: E402

from trainables.schema import records as R  # noqa: E402

N_IMAGES = 200


def _bits(p: float, rng) -> str:
    return "".join("1" if b else "0" for b in rng.random(N_IMAGES) < p)


def _grid(cells: dict[str, tuple[float, float]], seeds: int = 3) -> tuple[list[dict], list[dict]]:
    """Runs and test readings of ``cells`` (name -> (AA best, AA last) accuracy), each seed its own draw."""
    results, finals = [], []
    for cell, (best, last) in cells.items():
        for seed in range(seeds):
            rng = np.random.default_rng([seed, len(cell), ord(cell[-1])])
            results.append({"dataset": "fmnist", "cell": cell, "seed": seed,
                            "records": [{R.TRAIN_ADV_ACC: 0.9, R.VAL_CLEAN_ACC: 0.8}]})
            finals.append({"dataset": "fmnist", "cell": cell, "seed": seed, "per_image": {
                "best/autoattack": _bits(best, rng), "last/autoattack": _bits(last, rng),
                "best/pgd50x10": _bits(best, rng), "last/pgd50x10": _bits(last, rng)}})
    return results, finals


def _rows(text: str) -> dict[str, str]:
    return {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ") and "---" not in line}


def test_a_row_does_not_move_when_another_cells_runs_arrive():
    results, finals = _grid({"PGD-AT": (0.65, 0.58), "DER 10": (0.66, 0.66)})
    before = _rows(ro_reviewer.headline_markdown(results, finals))
    more_results, more_finals = _grid({"TRADES": (0.66, 0.63)})
    after = _rows(ro_reviewer.headline_markdown(more_results + results, more_finals + finals))  # TRADES row first
    assert after["PGD-AT"] == before["PGD-AT"] and after["DER 10"] == before["DER 10"]
    assert "TRADES" in after and "TRADES" not in before


def test_the_gap_interval_holds_its_mean_and_separates_a_real_gap_from_none():
    results, finals = _grid({"PGD-AT": (0.70, 0.50), "DER 10": (0.60, 0.60)})
    best = ro_reviewer._matrix(finals, "fmnist", "PGD-AT", "best/autoattack")
    last = ro_reviewer._matrix(finals, "fmnist", "PGD-AT", "last/autoattack")
    mean, lo, hi, seeds = ro_reviewer.diff(best, last, ro_reviewer.stream("a"))
    assert seeds == 3 and lo < mean < hi and lo > 0.1  # a 20-point gap on 3 × 200 images: well clear of 0
    same = ro_reviewer.diff(best, best, ro_reviewer.stream("b"))
    assert same[:3] == (0.0, 0.0, 0.0)  # a checkpoint against itself: no gap, no spread
