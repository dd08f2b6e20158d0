"""study.run.interrupt on a real process: Ctrl-C and SIGTERM end in one line and exit 130, no traceback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PROGRAM = """
import sys, time
from study.run import interrupt
interrupt.set_resume_hint(lambda: "study resume demo")
def main():
    print("ready", flush=True)
    time.sleep(60)
    return 0
sys.exit(interrupt.guarded(main, lambda m: print(m, file=sys.stderr)))
"""


def _start(ignore_sigint: bool = False) -> subprocess.Popen:
    def preexec():
        if ignore_sigint:  # as for a background job of a non-interactive shell
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=preexec, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.parametrize("sig,ignore_sigint", [(signal.SIGINT, False), (signal.SIGTERM, False),
                                               (signal.SIGTERM, True)])
def test_signal_ends_in_one_line_with_the_resume_command(sig, ignore_sigint):
    proc = _start(ignore_sigint)
    time.sleep(0.2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip() == "interrupted; continue with: study resume demo"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
