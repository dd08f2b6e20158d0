"""Helpers for the first-hour tests: `make quickstart` as a user runs it, and a fresh shell for the
commands it prints (imported as firsthour; tests/ is on sys.path)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent  # the venv running the tests has the `study` script
STEP = re.compile(r"^  (\S.*?)\s+# ")


def make_quickstart(env: dict, workspace: Path, name: str, spec: Path | None = None, args: str = "",
                    timeout: int = 1200) -> subprocess.CompletedProcess:
    """`make quickstart` in the repository, with this venv taken as installed (`-o` its stamp)."""
    cmd = ["make", "--no-print-directory", "-o", str(VENV / ".installed"), "quickstart", f"VENV={VENV}",
           f"NAME={name}", f"WORKSPACE={workspace}", f"ARGS={args}"]
    if spec is not None:
        cmd.append(f"SPEC={spec}")
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def fresh_env(cache: Path) -> dict:
    """What a new terminal has: no STUDY_* settings (data dir, workspace), no venv on the PATH.

    Kept: HOME, the test's own cache and offline switch (tests never write the user's cache nor
    download), and PYTHONPATH, which is how this checkout's code is found when it is not the
    editable install of the venv (a user's `make quickstart` installs it editable)."""
    env = {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "STUDY_CACHE_DIR": str(cache), "STUDY_OFFLINE": "1"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def steps(output: str, title: str) -> list[str]:
    """The commands printed under ``title:`` (one per line, a '# ...' comment after each)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{title}:")
    found = []
    for line in lines[start + 1:]:
        m = STEP.match(line)
        if not m:
            break
        found.append(m.group(1).strip())
    return found


def shell(cmd: str, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    """``cmd`` pasted into a shell in the repository folder."""
    return subprocess.run(["bash", "-c", cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def verb(cmd: str) -> str:
    """The sub-command of a printed ``study`` command line (``status``, ``ui``, ...)."""
    words = shlex.split(cmd)
    i = words.index("study") + 1 if "study" in words else next(i for i, w in enumerate(words) if w.endswith("study")) + 1
    return words[i]


def tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*")}
