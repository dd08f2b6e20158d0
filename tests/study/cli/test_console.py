"""What the console prints: figures with units, trial tables readable at 100 columns, one trial name,
and commands spelled so that they work when pasted into a fresh shell."""
from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest
from rich.console import Console

from study.console import hints
from study.console.display import fmt, header, shown_metrics, trial_label, trial_table
from study.results.status import TrialRow
from trainables.schema import records as R


def test_figures_carry_their_units():
    assert fmt(R.VAL_PGD_ACC, 0.41234) == "41.2%"
    assert fmt(R.TIME_EPOCH, 8.432) == "8.4 s"
    assert fmt("method.epsilon", 8.0) == "8/255" and fmt("eval.epsilon", 55.83) == "55.8/255"
    assert fmt(R.TRAIN_DELTA_MEAN, -0.0009573) == "-0.000957"  # ΔE has no unit
    assert fmt(R.VAL_PGD_ACC, 0.41234, with_unit=False) == "41.2"  # the unit is in the column header
    assert fmt("x", None) == "-" and fmt("x", float("nan")) == "nan" and fmt("epochs", 6) == "6"


def test_headers_break_at_separators_and_name_the_unit():
    assert header(R.TRAIN_DELTA_MEAN) == "energy/\ntrain/\ndelta_mean"
    assert header("method.epsilon") == "method.\nepsilon\n(/255)"
    assert header(R.VAL_PGD_ACC) == "val/\npgd_acc\n(%)"
    assert header("der.weight") == "der.\nweight"


def _quickstart_rows() -> list[TrialRow]:
    """Eight trials shaped like the quickstart's: stopped (result kept), pruned and completed, three parameters."""
    rows = []
    for i in range(8):
        stopped, pruned = i % 3 != 2, i == 4
        rows.append(TrialRow(
            number=i, state="PRUNED" if pruned else "COMPLETE",
            stop_reason=("asha" if pruned else "probe_collapse" if i % 2 else "delta_energy") if stopped else None,
            epochs=3 if stopped else 6, stop_step=96 if stopped else None,
            params={"der.weight": 0.0182 * (i + 1), "method.epsilon": 40.65 + 3.7 * i, "method.alpha": 73.30 - i},
            metrics={R.VAL_PGD_ACC: 0.05 * i, R.VAL_CLEAN_ACC: 0.9 - 0.01 * i, R.TRAIN_DELTA_MEAN: -0.7257 / (i + 1)},
        ))
    return rows


def test_trial_table_is_readable_at_100_columns():
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(
        trial_table("study quickstart (finished)", _quickstart_rows(), shown_metrics([R.VAL_PGD_ACC], False)))
    text = buf.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" not in text  # nothing truncated
    words = set(text.split())
    # every header part and every value is whole: no word is broken across lines
    for word in ("trial", "state", "epochs", "der.", "weight", "method.", "epsilon", "alpha", "(/255)", "val/",
                 "pgd_acc", "clean_acc", "(%)", "energy/", "train/", "delta_mean", "COMPLETE", "PRUNED"):
        assert word in words, word
    for word in ("stop", "probe", "collapse", "ΔE", "divergence", "ASHA", "step", "96,", "result", "kept", "pruned"):
        assert word in words, word  # "probe collapse at step 96, result kept", wrapped between words
    assert "0.0182" in words and "40.6" in words and "35.0" in words  # trial 7: 0.35 -> 35.0 (%)


def test_one_trial_name_as_in_mlflow():
    assert trial_label(3) == "trial-3" and trial_label(3, 1) == "trial-3-seed1"


def test_printed_program_is_the_one_that_ran(tmp_path, monkeypatch):
    script = tmp_path / ".venv" / "bin" / "study"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # not on the PATH, as after `make quickstart`
    monkeypatch.setattr(sys, "argv", [str(script), "run"])
    assert hints.program() == [".venv/bin/study"]
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}/usr/bin")  # an activated venv
    assert hints.program() == ["study"]
    monkeypatch.setattr(sys, "argv", [str(Path(hints.__file__).parents[1] / "__main__.py")])
    assert hints.program()[1:] == ["-m", "study"]


def test_workspace_named_only_when_not_the_default(tmp_path, monkeypatch, bare_study):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STUDY_WORKSPACE", raising=False)
    assert hints.command("status", "qs", workspace=tmp_path / "studies") == "study status qs"
    assert hints.command("status", "qs", workspace=tmp_path / "ws") == "study status qs --workspace ./ws"
    assert hints.command("status", "qs", workspace=tmp_path / "a" / "ws") == "study status qs --workspace a/ws"
    assert hints.command("status", "my study", workspace=Path("/elsewhere/ws")) == \
        "study status 'my study' --workspace /elsewhere/ws"


@pytest.fixture
def bare_study(monkeypatch):
    """Printed commands start with a plain `study` (as when it runs from the PATH)."""
    monkeypatch.setattr(sys, "argv", ["study"])
    monkeypatch.setenv("PATH", "/nonexistent")


def test_next_steps_follow_the_first_hour(bare_study):
    steps = [c for c, _ in hints.next_steps("qs", Path.cwd() / "studies", finished=True)]
    assert [s.split()[1] for s in steps] == ["status", "report", "ui", "export"]
    assert [c.split()[1] for c, _ in hints.next_steps("qs", Path("/w"), finished=True, completed=False)] == \
        ["status", "report", "ui"]  # nothing to export
    assert hints.next_steps("qs", Path("/w"), finished=False)[0][0].split()[1:3] == ["resume", "qs"]


@pytest.mark.parametrize("finished", [True, False])
def test_steps_are_one_pasteable_line_each(finished, bare_study):
    buf = io.StringIO()
    hints.print_steps(Console(file=buf, width=60, color_system=None),
                      hints.next_steps("quickstart", Path("/a/long/workspace/path"), finished))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 + len(hints.next_steps("quickstart", Path("/a/long/workspace/path"), finished))
    assert all(line.startswith("  ") and " # " in line for line in lines[1:])
