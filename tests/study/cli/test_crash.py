"""An unexpected exception in a command: one paragraph (what failed, the log file, how to report it),
exit code 1, no traceback on the console, the traceback in the log file; ``--debug`` shows it.

The faults are injected where a real one could strike (a library call inside a command), since a
platform without bugs offers none to trigger; everything around them is real.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from study.console import logs
from study.cli.main import main
from testlib import tiny_run


def _boom(exc: BaseException):
    def raise_(*args, **kwargs):
        raise exc
    return raise_


@pytest.fixture()
def ws(tmp_path) -> Path:
    """A workspace holding only an empty catalog (so `study list` reaches the catalog query)."""
    from study.stores.catalog import Catalog

    ws = tmp_path / "ws"
    ws.mkdir()
    Catalog.open(ws, create=True)
    return ws


def _files(ws: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ws.rglob("*")) if p.is_file()}


def _config(tmp_path, mnist_env) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tiny_run(mnist_env, epochs=1)))
    return str(path)


CASES = {
    "list: the catalog query fails": ("study.stores.catalog.Catalog.all", RuntimeError("disk on fire"),
                                      lambda ws, tmp, data: ["list", "--workspace", str(ws)]),
    "status: a KeyError deep inside": ("study.stores.catalog.Catalog.get", KeyError("optuna_storage"),
                                       lambda ws, tmp, data: ["status", "s", "--workspace", str(ws)]),
    "train: the trainer runs out of memory": ("trainables.training.fit.fit", MemoryError("CPU allocator out of memory"),
                                              lambda ws, tmp, data: ["train", _config(tmp, data), "--workspace",
                                                                     str(ws)]),
    "report: a ValueError": ("dashboards.report.build_report", ValueError("plotly refused a figure"),
                             lambda ws, tmp, data: ["report", "s", "--workspace", str(ws)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unexpected_error_is_one_paragraph_with_the_log_file_and_exit_1(case, ws, tmp_path, mnist_env,
                                                                          monkeypatch, capsys):
    target, exc, argv_of = CASES[case]
    monkeypatch.setattr(target, _boom(exc))
    before = _files(ws)
    argv = argv_of(ws, tmp_path, mnist_env)
    assert main(argv) == 1
    err = " ".join(capsys.readouterr().err.split())
    log = logs.cli_log()
    assert f"`study {argv[0]}` failed unexpectedly: {type(exc).__name__}" in err, err
    assert f"The full traceback is in {log}" in err and "Please report it" in err and "--debug" in err
    assert "Traceback" not in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and f"study {' '.join(argv)}" in text
    assert _files(ws) == before  # nothing recorded, nothing changed


@pytest.mark.parametrize("how", ["flag", "flag first", "env"])
def test_debug_shows_the_traceback(how, ws, monkeypatch, capsys):
    monkeypatch.setattr("study.stores.catalog.Catalog.all", _boom(RuntimeError("disk on fire")))
    argv = ["list", "--workspace", str(ws)]
    if how == "flag":
        argv.append("--debug")
    elif how == "flag first":
        argv.insert(0, "--debug")
    else:
        monkeypatch.setenv("STUDY_DEBUG", "1")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "failed unexpectedly: RuntimeError: disk on fire" in " ".join(err.split())
    assert "Traceback (most recent call last)" in err and err.rstrip().splitlines()[-1] == "RuntimeError: disk on fire"


def test_a_known_input_error_is_still_exit_2_with_debug(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_help_documents_debug(capsys):
    assert main(["--help"]) == 0
    assert "--debug" in capsys.readouterr().out


@pytest.mark.parametrize("exc, needles", [
    (OSError(28, "No space left on device", "/ws/reports/s.html"),
     ["The disk holding /ws/reports/s.html is full", "Fix: free space on that disk"]),
    (OSError(30, "Read-only file system", "/ws/reports/s.html"),
     ["/ws/reports/s.html is on a file system that is read-only now", "remount it read-write"]),
])
def test_a_fault_of_the_surroundings_is_named_with_its_fix_not_as_a_bug(exc, needles, ws, monkeypatch, capsys):
    """A full or read-only disk is not a platform bug: its own paragraph (the fault, the fix), exit code 1, the
    traceback in the log file, nothing asking for a bug report."""
    monkeypatch.setattr("dashboards.report.build_report", _boom(exc))
    assert main(["report", "s", "--workspace", str(ws)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    for needle in needles:
        assert needle in err, err
    assert "failed unexpectedly" not in err and "Please report it" not in err and "Traceback" not in err
    assert f"The full traceback is in {logs.cli_log()}" in err
