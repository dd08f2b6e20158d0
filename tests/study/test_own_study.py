"""Issue 32's measure: a researcher's own small study (tests/study/own_study.yaml: Fashion-MNIST, the DER weight
log-uniform, 4 trials x 2 epochs on 1,000 training images, every setting at its default) run by `study run` as a
user runs it, its console timed line by line (tests/console_clock.py). It must talk: no silent stretch over 10 s,
and its evaluation must stay in proportion to its training. The README's figures come from bench/own_study.py
(the same spec at three training-set sizes, its traces committed and re-printed by bench/replay.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import optuna
import pytest

import console_clock
from firsthour import REPO, VENV

pytestmark = pytest.mark.slow
SPEC = Path(__file__).parent / "own_study.yaml"
MAX_SILENCE_S = 10.0


def _phases(clocked) -> dict[str, float]:
    """Seconds of wall time before the first trial line, in the trials (to the last trial line), in the answer's
    reading (its lines), and after it."""
    lines = clocked.lines
    first = next(t for t, x in lines if x.startswith("trial-"))
    last = max(t for t, x in lines if x.startswith(("trial-", "…")))
    start = next((t for t, x in lines if x.startswith("the study's answer:")), None)
    end = max((t for t, x in lines if x.startswith(("the study's answer: test reading", "trial ", "  trial "))),
              default=start)
    out = {"start-up": first, "trials": last - first}
    if start is not None:
        out["answer"] = end - start
    return out


def test_a_researchers_own_study_talks_and_trains_more_than_it_evaluates(shared_data, tmp_path):
    ws = tmp_path / "ws"
    clocked = console_clock.run([str(VENV / "bin" / "study"), "run", str(SPEC), "--workspace", str(ws)],
                                env={"STUDY_DATA_DIR": str(shared_data)}, cwd=str(REPO), timeout=1500)
    text = clocked.text()
    print("\n".join(f"[{t:7.1f}] {x}" for t, x in clocked.lines), file=sys.stderr)
    print(clocked.summary(), _phases(clocked), file=sys.stderr)
    assert clocked.returncode == 0, text[-3000:]
    gap, at, line = clocked.longest_silence
    assert gap <= MAX_SILENCE_S, f"the console was silent {gap:.1f} s before {line!r} (at {at:.1f} s)"
    study = optuna.load_study(study_name="own", storage=f"sqlite:///{ws / 'optuna.db'}")
    assert len(study.trials) == 4 and "answer" in study.user_attrs
    phases = _phases(clocked)
    assert phases["answer"] < phases["trials"], phases  # the one strong reading costs less than the search
    assert "the study's answer: test reading on 1,000 images" in text
    assert os.path.exists(ws / "logs" / "own.log")
