"""A long phase on the console: a line when it starts, a line every few seconds while it runs, a line at its end.

A researcher watching a study should never wonder whether it hangs (issue 32: a trial's final evaluation kept
the console silent for minutes). ``Phase`` prints what runs, on how many images, how far it got and the seconds
elapsed; a daemon thread repeats the current status whenever ``every`` seconds pass without a line, so even one
long attack call (torch releases the GIL) never leaves a silent stretch longer than that.

>>> lines = []
>>> with Phase(lines.append, "trial 3: PGD-50x10 on 1,000 test images", every=60) as p:
...     p.status("restart 1/10")
...     p.finish("15.3%")
>>> lines[0], lines[-1].split(" (")[0]
('trial 3: PGD-50x10 on 1,000 test images ...', 'trial 3: PGD-50x10 on 1,000 test images: 15.3%')
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

EVERY_S = 5.0  # the longest silence a phase allows itself


class Phase:
    """Context manager around one long step; ``say`` prints one line (a console's ``print`` or a list's ``append``)."""

    def __init__(self, say: Callable[[str], None], label: str, every: float = EVERY_S) -> None:
        self.say, self.label, self.every = say, label, every
        self._status = ""
        self._last = 0.0
        self._t0 = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._finished = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def __enter__(self) -> "Phase":
        self._t0 = time.monotonic()
        self._line(f"{self.label} ...")
        self._thread = threading.Thread(target=self._beat, name="phase-heartbeat", daemon=True)
        self._thread.start()
        return self

    def status(self, text: str, show: bool = False) -> None:
        """How far the phase is (printed by the next heartbeat, or now with ``show``)."""
        self._status = text
        if show:
            self._line(f"  {self.label}: {text}, {self.elapsed:.0f} s")

    def finish(self, result: str) -> None:
        """The phase's result line, with its duration."""
        self._finished = True
        self._stop.set()
        self._line(f"{self.label}: {result} ({self.elapsed:.1f} s)")

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if exc[0] is not None and not self._finished and not issubclass(exc[0], KeyboardInterrupt):
            self._line(f"{self.label}: failed after {self.elapsed:.1f} s")

    def _line(self, text: str) -> None:
        with self._lock:
            self._last = time.monotonic()
            self.say(text)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.every)):
            if time.monotonic() - self._last >= self.every:
                self._line(f"  {self.label}: {self._status + ', ' if self._status else ''}{self.elapsed:.0f} s")
