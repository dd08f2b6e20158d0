"""The network as the datasets see it: the offline switch, a bounded reachability probe, a socket timeout."""
from __future__ import annotations

import socket
import threading

OFFLINE_ENV = "STUDY_OFFLINE"
PROBE_TIMEOUT_S = 3.0
DOWNLOAD_SOCKET_TIMEOUT_S = 60.0


def reachable(host: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A quick TCP probe of ``host:443`` that cannot hang (DNS included): bounded by ``timeout``."""
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(ok)


class socket_timeout:
    """Bound every socket operation while torchvision downloads (its urlopen has no timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        self.old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.seconds)

    def __exit__(self, *exc: object) -> None:
        socket.setdefaulttimeout(self.old)
