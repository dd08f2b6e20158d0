"""A test reading of every epoch's weights, for benchmarks that replay a study's answer (never for selection).

A tabular benchmark of a search (bench/search_replay.py) must know what the configuration a study would
return reads on test, wherever a stopping rule would have cut its run: the checkpoint kept then is the one
selected on validation among the epochs trained so far. So the corpus runners record, after every epoch,
clean and PGD accuracy of that epoch's weights on a fixed test subset (``test/epoch/...``, at the evaluation
radius, model in eval mode, fp32), next to the validation readings the platform selects on. The training
run is unaffected: the trainer re-derives its random state at every epoch start, and this reading runs
between epochs inside a forked RNG.

    from bench.epoch_test import epoch_test_callback
    fit(cfg, workdir, callbacks=[epoch_test_callback(trainer, steps=20)], trainer=trainer)
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional

from trainables.schema import records as R

EPOCH = "epoch"  # the ``which`` of test_key: test/epoch/clean_acc, test/epoch/pgd20x1_acc


def key(steps: int, restarts: int = 1) -> str:
    return R.test_key(EPOCH, f"pgd{steps}x{restarts}_acc")


CLEAN = R.test_key(EPOCH, "clean_acc")


def epoch_test_callback(trainer, steps: int = 20, restarts: int = 1, n: Optional[int] = None) -> Callable:
    """A ``trainables.training.fit`` callback that adds ``test/epoch/{clean_acc,pgd<steps>x<restarts>_acc}`` of the current
    weights to every epoch record (window reports are left alone); ``n``: the first n test images (default: the
    run's test subset). It never stops the run."""
    import torch

    from trainables.evaluation.evaluate import robust_accuracy
    from trainables.training.runtime import derive_seed
    from trainables.evaluation.validation import eval_pgd

    cfg = trainer.cfg
    attack = eval_pgd(cfg, steps, restarts, contextlib.nullcontext, test=True)
    batches = list(trainer.data.test_batches(cfg.eval.batch_size))
    if n is not None:
        xs, ys = torch.cat([b[0] for b in batches])[:n], torch.cat([b[1] for b in batches])[:n]
        batches = [(xs[i:i + cfg.eval.batch_size], ys[i:i + cfg.eval.batch_size]) for i in range(0, len(ys), cfg.eval.batch_size)]

    def callback(record) -> None:
        if record.partial:
            return None
        with torch.random.fork_rng():
            torch.manual_seed(derive_seed(cfg.seed, "epoch_test", record.epoch) % (1 << 63))
            r = robust_accuracy(trainer.model, batches, attack)
        record.metrics[CLEAN], record.metrics[key(steps, restarts)] = r["clean_acc"], r["adv_acc"]
        return None

    return callback
