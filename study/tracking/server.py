"""A local MLflow tracking server: started in its own process group, bound to 127.0.0.1 unless told otherwise,
ready when its ``/health`` answers, stopped whole (the server and its workers).

``study ui`` serves a workspace's store with it; the fault tests and the soak benchmark stop one abruptly and
start it again on the same port with the same stores, as a crashed and restarted server would be.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional


def free_port(host: str = "127.0.0.1", first: Optional[int] = None) -> int:
    """``first`` if it can be bound on ``host``, else the next port that can (within 100); without ``first``, a
    port the system picks. (Free now: another process may still take it before it is used.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in range(first, first + 100) if first else (0,):
        with socket.socket(family) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    return first or 0  # none free: let the server say what is wrong


class MlflowServer:
    """``mlflow server`` over a backend store. ``artifacts``: a folder the server proxies artifact uploads to
    (``--artifacts-destination``: clients need no access to it); ``artifact_root``: the folder clients write
    to themselves (``--default-artifact-root``). Output goes to ``log`` (appended), else nowhere."""

    def __init__(self, backend_uri: str, *, port: Optional[int] = None, host: str = "127.0.0.1",
                 artifacts: Optional[Path] = None, artifact_root: Optional[Path] = None,
                 log: Optional[Path] = None, env: Optional[dict] = None) -> None:
        self.backend_uri, self.host, self.log, self.env = backend_uri, host, log, env or {}
        self.port = port or free_port(host)
        self.artifacts, self.artifact_root = artifacts, artifact_root
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        """Where a client on this machine reaches it (the loopback address when it binds every interface)."""
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri,
               "--host", self.host, "--port", str(self.port), "--workers", "1"]
        if self.artifacts is not None:
            cmd += ["--artifacts-destination", Path(self.artifacts).resolve().as_uri()]
        if self.artifact_root is not None:
            cmd += ["--default-artifact-root", Path(self.artifact_root).resolve().as_uri()]
        return cmd

    def start(self) -> "MlflowServer":
        """Start it (its own process group, no telemetry, no job runner); ``wait_ready`` says when it answers."""
        env = {"MLFLOW_DISABLE_TELEMETRY": "true", **os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
               **self.env}  # no job runner: 8 fewer processes; a user's own telemetry setting wins
        out = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        finally:
            if self.log is not None:
                out.close()  # the child holds its own copy
        return self

    def wait_ready(self, timeout: float = 180.0) -> bool:
        """Poll ``/health`` until it answers (True), the server exits or ``timeout`` seconds pass (False). A
        server starts in ~6 s on an idle machine, much longer on a loaded one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc is not None and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        return False

    def stop(self, abrupt: bool = False) -> None:
        """Stop the whole process group: SIGTERM, SIGKILL after 5 s; ``abrupt``: SIGKILL at once, as a crash."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig in ((signal.SIGKILL,) if abrupt else (signal.SIGTERM, signal.SIGKILL)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5 if sig == signal.SIGTERM else 30)
                return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
