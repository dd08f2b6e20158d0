"""bench/replay.py: every table of bench/README.md marked as replayable is re-printed from the traces committed under
bench/results/ (no training) and equals the README's; a changed figure is caught (issues 25 and 28)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REPLAY = [sys.executable, str(REPO / "bench" / "replay.py")]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*REPLAY, *args], capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.mark.slow
def test_every_marked_table_of_bench_readme_replays_from_the_committed_traces():
    proc = _run()
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "DIFFERS" not in proc.stderr


def test_a_changed_figure_or_an_unknown_block_is_caught(tmp_path):
    table = _run("--only", "answer_corpus", "--print").stdout.strip()
    assert table.startswith("<!-- replay: answer_corpus -->") and "classic CO" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\n{table}\n")
    assert _run("--only", "answer_corpus", "--readme", str(readme)).returncode == 0
    first_row = next(line for line in table.splitlines() if line.startswith("| fgsm"))
    changed = first_row.replace(" | 6 | ", " | 7 | ", 1)
    assert changed != first_row
    readme.write_text(f"# t\n\n{table.replace(first_row, changed)}\n")
    proc = _run("--only", "answer_corpus", "--readme", str(readme))
    assert proc.returncode == 1 and "answer_corpus: the README's table differs" in proc.stderr
    readme.write_text(f"# t\n\n{table}\n\n<!-- replay: no_such_table -->\n| x |\n<!-- /replay -->\n")
    proc = _run("--only", "answer_corpus", "--readme", str(readme))
    assert proc.returncode == 1 and "no_such_table" in proc.stderr
