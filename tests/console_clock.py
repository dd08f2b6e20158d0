"""Run a command and time what its console shows: the wall time and the longest stretch without a new line.

Issue 32's measure of a study that "talks": a researcher watching ``study run`` should never wait more than a
few seconds for the next line. Used by ``tests/study/test_own_study.py`` and by hand::

    python tests/console_clock.py --log /tmp/own.log -- .venv/bin/study run tests/study/own_study.yaml

prints the command's output with the second each line arrived, then one summary line (wall time, the longest
silent stretch and the line that ended it) and, with ``--json FILE``, the same as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence


@dataclass
class Clocked:
    """What a command printed, line by line, with the second (since its start) each line arrived."""

    returncode: int
    wall_s: float
    lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def silences(self) -> list[tuple[float, float, str]]:
        """(gap in s, when it ended, the line that ended it) for every line, and the tail after the last one."""
        out, before = [], 0.0
        for t, line in self.lines:
            out.append((t - before, t, line))
            before = t
        out.append((self.wall_s - before, self.wall_s, "(the command ended)"))
        return out

    @property
    def longest_silence(self) -> tuple[float, float, str]:
        return max(self.silences, key=lambda s: s[0])

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def summary(self) -> str:
        gap, at, line = self.longest_silence
        return (f"wall {self.wall_s:.1f} s, {len(self.lines)} lines, exit {self.returncode}; longest silent stretch "
                f"{gap:.1f} s, ended at {at:.1f} s by: {line.strip()[:160]}")


def run(argv: Sequence[str], env: Optional[dict] = None, echo: bool = False, timeout: Optional[float] = None,
        cwd: Optional[str] = None) -> Clocked:
    """Run ``argv`` with stdout and stderr merged into one pipe, and time every line it prints."""
    t0 = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}, cwd=cwd)
    result = Clocked(0, 0.0)
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            t = time.monotonic() - t0
            line = raw.rstrip("\n")
            result.lines.append((t, line))
            if echo:
                print(f"[{t:7.1f}] {line}", flush=True)
            if timeout is not None and t > timeout:
                proc.kill()
                break
        result.returncode = proc.wait(timeout=None if timeout is None else max(1.0, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        proc.kill()
        result.returncode = proc.wait()
    result.wall_s = time.monotonic() - t0
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", help="write the timed lines and the summary here")
    p.add_argument("--log", help="also write the timed lines here")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to time")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command to time after --")
    result = run(command, echo=True)
    print(result.summary(), flush=True)
    if args.log:
        Path(args.log).write_text("".join(f"[{t:7.1f}] {line}\n" for t, line in result.lines) + result.summary() + "\n")
    if args.json:
        gap, at, line = result.longest_silence
        Path(args.json).write_text(json.dumps({**asdict(result), "longest_silence_s": gap, "longest_silence_end_s": at,
                                               "longest_silence_ended_by": line}, indent=1))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
