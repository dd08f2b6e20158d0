"""One console line per trial epoch and per trial end, instead of Ray's verbose tables.

Trials are named as everywhere else (``trial-3``: the Optuna trial number, as in the status table,
the report and the MLflow run names), and every figure carries its unit. When no line came for
``HEARTBEAT_S`` seconds (workers starting, a long epoch, a trial's final test reading), one line says
what each running trial is in and how long the console has been quiet (issue 32: never a silent minute).
"""
from __future__ import annotations

import threading
import time

from ray.tune import Callback
from rich.markup import escape

from study.console.display import console, fmt, trial_label
from study.stopping.outcome import stop_phrase
from trainables.schema import records as R
from trainables.schema.trial import SEED_INDEX, TRIAL_NUMBER

SHOWN = ((R.TRAIN_DELTA_MEAN, "ΔE"), (R.PROBE_PGD_ACC, "probe"))
HEARTBEAT_S = 5.0  # the longest the console stays quiet while trials run (the study's start included)
_since = time.monotonic()  # the last line before the callback ran (``mark_line``, else its construction)
_marked = None
_opening: threading.Event | None = None  # set: the opening's heartbeat stops


def mark_line(out=None) -> None:
    """The CLI printed a line just now (the study's first): the quiet counts from here, so the seconds that Ray,
    MLflow and Ray Tune take to set up before the callback runs count too. Until the callback's own heartbeat
    takes over (``setup``) or the study ends (``end_opening``), a thread says the study is starting whenever
    ``HEARTBEAT_S`` pass without a line (a local Ray alone takes 15 s on a busy 2-core machine)."""
    global _marked, _opening
    end_opening()
    _marked = time.monotonic()
    _opening = threading.Event()
    threading.Thread(target=_opening_tick, args=(_opening, _marked, out), name="progress-opening",
                     daemon=True).start()


def end_opening() -> None:
    """Stop the opening's heartbeat (idempotent): the callback's takes over, or the study ended before it ran."""
    global _opening
    if _opening is not None:
        _opening.set()
        _opening = None


def _opening_tick(stop: threading.Event, start: float, out) -> None:
    global _marked, _since
    last = start
    while not stop.wait(0.5):
        now = time.monotonic()
        if now - last < HEARTBEAT_S:
            continue
        try:
            (out or console()).print(f"[dim]… starting the study: Ray, its stores and the search "
                                     f"({now - start:.0f} s)[/]", soft_wrap=True)
        except Exception:  # noqa: BLE001 - a heartbeat must never disturb the study
            return
        last = now
        _marked = _since = now  # the callback (built or not yet) counts the quiet from this line


def trial_name(trial) -> str:
    """``trial-N`` from the Optuna number the searcher gave the trial (Ray's id if it has none)."""
    config = trial.config or {}
    number = config.get(TRIAL_NUMBER)
    if number is None:
        return f"trial {trial.trial_id}"
    return trial_label(number, int(config.get(SEED_INDEX, 0) or 0))


class ProgressCallback(Callback):
    def __init__(self, metrics: list[str], epochs: int | None = None) -> None:
        global _since, _marked
        _since = _marked if _marked is not None else time.monotonic()
        _marked = None
        self.metrics = metrics
        self.epochs = epochs
        self._console = None

    @property
    def console(self):
        if self._console is None:
            self._console = console()
        return self._console

    def __getstate__(self):
        return {"metrics": self.metrics, "epochs": self.epochs, "_console": None}

    def _print(self, text: str, news: bool = True) -> None:
        with self.__dict__.setdefault("_lock", threading.Lock()):
            now = time.monotonic()
            self.__dict__["_last_line"] = now
            if news:
                self.__dict__["_last_news"] = now
            self.console.print(text, soft_wrap=True)

    def setup(self, **info):
        """Start the heartbeat thread: Tune's loop can block for seconds (starting the first workers, which import
        torch), and ``on_step_end`` is not called meanwhile; the thread says so instead of leaving the console
        quiet."""
        global _marked
        end_opening()
        _marked = None  # (an opening line after the callback's construction moved ``_since`` instead)
        stop = threading.Event()
        self.__dict__["_stop"] = stop
        threading.Thread(target=self._tick, args=(stop,), name="progress-heartbeat", daemon=True).start()

    def on_experiment_end(self, trials, **info):
        stop = self.__dict__.pop("_stop", None)
        if stop is not None:
            stop.set()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            try:
                self.on_step_end(-1, self.__dict__.get("_trials", []), starting=True)
            except Exception:  # noqa: BLE001 - a heartbeat must never disturb the study
                pass

    def on_step_end(self, iteration, trials, starting: bool = False, **info):
        """A line saying what the running trials are in, once the console has been quiet ``HEARTBEAT_S`` seconds
        (``starting``: from the heartbeat thread, which also speaks before any trial runs)."""
        if not starting:
            self.__dict__["_trials"] = list(trials)
        now = time.monotonic()
        last = self.__dict__.setdefault("_last_line", _since)
        if now - last < HEARTBEAT_S:
            return
        running = [t for t in trials if t.status == "RUNNING"]
        if not running:
            if starting and not any(t.last_result for t in trials):
                self._print(f"[dim]… starting the trials' workers ({now - _since:.0f} s)[/]", news=False)
            return
        doing = ", ".join(f"{trial_name(t)} {self._doing(t)}" for t in running)
        waiting = sum(t.status == "PENDING" for t in trials)
        queued = f"; {waiting} waiting" if waiting else ""
        since = now - self.__dict__.setdefault("_last_news", last)
        self._print(f"[dim]… {escape(doing)}{queued} ({since:.0f} s since the last result)[/]", news=False)

    def _doing(self, trial) -> str:
        """What a running trial is in, from its last result: starting, an epoch, or its last epoch's test reading."""
        epochs = getattr(self, "epochs", None)
        last = trial.last_result or {}
        done = last.get(R.EPOCH)
        if not isinstance(done, (int, float)) or isinstance(done, bool):
            return "starting"
        current = int(done) + 1
        of = f"/{epochs}" if epochs else ""
        final = ((trial.config or {}).get("run") or {}).get("eval", {}).get("final", True)
        if epochs and current >= epochs and final:
            return f"in epoch {current}{of}, then its test reading"
        return f"in epoch {current}{of}"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if R.is_partial(result) and not result.get(R.STOP_REASON):
            return  # window reports (eval.report_every) show only when they stop the trial
        epochs = getattr(self, "epochs", None)  # absent in callbacks pickled by an older version
        epoch = result.get(R.EPOCH)
        epoch = f"{epoch:.2f}" if isinstance(epoch, float) and not float(epoch).is_integer() else epoch
        parts = [trial_name(trial), f"epoch {epoch}" + (f"/{epochs}" if epochs else "")]
        parts += [f"{m} {fmt(m, result[m])}" for m in self.metrics if isinstance(result.get(m), (int, float))]
        parts += [f"{label} {fmt(key, result[key])}" for key, label in SHOWN if isinstance(result.get(key), (int, float))]
        if isinstance(result.get(R.TIME_EPOCH), (int, float)):
            parts.append(f"{result[R.TIME_EPOCH]:.1f} s/epoch")
        if result.get(R.STOP_REASON):
            phrase = stop_phrase(result[R.STOP_REASON], step=result.get(R.STOP_STEP))
            parts.append(f"[bold yellow]{escape(phrase)}[/]")
        self._print("  ".join(parts))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._print(f"[red]{trial_name(trial)} failed[/] (Ray trial {trial.trial_id}): {trial.error_file or ''}")
