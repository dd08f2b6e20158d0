"""One trial after another in one worker process: what a trial must not leave behind for the next.

Ray Tune reuses a trial's actor for the next trial (``reuse_actors``), so imports, the decoded data
(``trainables.data.cache``) and the MLflow store connection are paid once per worker instead of
once per trial. What a trial changes in its process, and how the next one starts clean:

* seed, model, optimizer, data order, record history, sinks: built inside the trial function from
  the trial's own config (``Trainer`` seeds torch from the run seed and again every epoch; loaders
  draw each epoch's order from (seed, epoch)); dropped and collected when it returns;
* process-wide torch settings a run config sets (threads, deterministic algorithms,
  ``cudnn.benchmark``): put back to the process's own values before every trial (``begin_trial``);
* compiled graphs (``torch.compile``) and cached GPU memory: released after every trial (``end_trial``);
* the Ray session (trial id, checkpoint to restore, working directory, log files): reset by Ray's
  ``FunctionTrainable.reset_config``. A trial stopped by the scheduler still waits inside
  ``tune.report``; Ray unwinds it when the actor is reused and gives up reusing (failing the next
  trial) if that takes longer than ``$TUNE_FUNCTION_THREAD_TIMEOUT_S`` (2 s by default), which a
  loaded machine can exceed: ``begin_trial`` raises the default to 60 s.
"""
from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
from typing import Optional

THREAD_TIMEOUT_ENV = "TUNE_FUNCTION_THREAD_TIMEOUT_S"
THREAD_TIMEOUT_S = "60"


@dataclass(frozen=True)
class TorchSettings:
    """The process-wide torch settings a run config may change (``trainables.training.runtime.Runtime``)."""

    threads: int
    deterministic: bool
    deterministic_warn_only: bool
    cudnn_benchmark: bool

    @classmethod
    def current(cls) -> "TorchSettings":
        import torch

        return cls(torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                   torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)

    def apply(self) -> None:
        import torch

        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        torch.backends.cudnn.benchmark = self.cudnn_benchmark


_process_defaults: Optional[TorchSettings] = None


def begin_trial() -> None:
    """Before a trial: the process's own torch settings, whatever an earlier trial here set; and the
    objects alive now (modules, caches, Ray's worker) moved out of the garbage collector's sight."""
    global _process_defaults
    os.environ.setdefault(THREAD_TIMEOUT_ENV, THREAD_TIMEOUT_S)
    if _process_defaults is None:  # the first trial of this process: nothing has changed them yet
        _process_defaults = TorchSettings.current()
    else:
        _process_defaults.apply()
        _release()  # what a stopped trial still held when its end_trial ran (Ray unwinds it later)
    # torch + Ray + MLflow are ~500k objects: a full collection of them took 0.8-1.2 s on these
    # cores (bench/README.md), and Python runs one now and then inside every trial. Frozen, they are
    # never scanned again; only what a trial builds is. (What is frozen is never collected: objects
    # alive at a trial's start that become garbage in reference cycles later are kept.)
    gc.freeze()


def end_trial() -> None:
    """After a trial (also a failed or stopped one): free what it built, compiled and cached on the GPU."""
    _release()


def _release() -> None:
    gc.collect()
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None:  # graphs and guards of a compiled model (a no-op in ~0.3 ms otherwise)
        dynamo.reset()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
