"""Run one training to the end in a directory: records.jsonl, checkpoints, final.json.

Used by ``study train`` and by the Ray trainable's local twin. A directory that already holds a
checkpoint is resumed: records after the checkpoint's epoch are dropped first (window reports of the
epoch in progress too), so a crash between writing a record and its checkpoint never duplicates one.

A local run keeps one checkpoint (``checkpoint/state.pt`` and ``best.pt``, overwritten every epoch), where a
study's trial keeps two (Ray Tune's ``num_to_keep=2``: a torn newest one is skipped for the one before,
``trainables.training.resume``). One is enough here: both files are written atomically on this machine's disk
(``trainables.checkpoint.save``: a temporary file, fsync, rename), so a kill or a full disk mid-write leaves
the previous epoch's file whole; a file damaged some other way is refused on load, by name (its checksums,
``trainables.checkpoint.verify``), never silently retrained over; deleting the run's folder starts it over.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from trainables.schema import records as R
from trainables.schema.config import RunConfig
from trainables.models.saved import STATE_FILE
from trainables.training.trainer import Trainer

RECORDS_FILE, FINAL_FILE, CONFIG_FILE, CKPT_DIR = "records.jsonl", "final.json", "config.yaml", "checkpoint"

# A callback sees each record (window reports too, with ``eval.report_every``); returning a string stops the
# run with that reason.
Callback = Callable[[R.EpochRecord], Optional[str]]


@dataclass
class FitResult:
    records: list[R.EpochRecord] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    stop_reason: Optional[str] = None
    workdir: Optional[Path] = None


def read_records(path: Path) -> list[R.EpochRecord]:
    if not path.exists():
        return []
    return [R.EpochRecord.from_flat(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _write_records(path: Path, recs: Iterable[R.EpochRecord]) -> None:
    path.write_text("".join(json.dumps(r.flat()) + "\n" for r in recs))


def fit(cfg: RunConfig, workdir: str | Path | None = None, callbacks: Iterable[Callback] = (),
        trainer: Trainer | None = None) -> FitResult:
    """Train ``cfg`` to its last epoch (or a stop), then evaluate on test; resume if ``workdir`` has a checkpoint."""
    import yaml

    trainer = trainer or Trainer(cfg)
    result = FitResult(workdir=Path(workdir) if workdir else None)
    wd = result.workdir
    if wd is not None:
        wd.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        if (wd / CKPT_DIR / STATE_FILE).exists():  # resumes only under the checkpoint's settings (training/drift.py)
            trainer.load(wd / CKPT_DIR)
        (wd / CONFIG_FILE).write_text(text)
        result.records = [r for r in read_records(wd / RECORDS_FILE) if r.epoch <= trainer.epoch]
        _write_records(wd / RECORDS_FILE, result.records)
    for record in trainer.epochs():
        if record.metrics.get(R.NONFINITE):
            result.stop_reason = R.STOP_NAN
        for cb in callbacks:
            reason = cb(record)
            result.stop_reason = result.stop_reason or reason
        if result.stop_reason:
            record.metrics[R.STOP_EPOCH], record.metrics[R.STOP_STEP] = float(record.epoch), record.step
        result.records.append(record)
        if wd is not None:
            with open(wd / RECORDS_FILE, "a") as f:
                f.write(json.dumps(record.flat()) + "\n")
            if not record.partial:  # a window report is not a checkpoint (trainables.training.window)
                trainer.save(wd / CKPT_DIR)
        if result.stop_reason:
            break
    if cfg.eval.final and result.stop_reason != R.STOP_NAN:
        result.final = trainer.final_eval()
    if cfg.generate is not None and result.stop_reason != R.STOP_NAN:
        result.final.update(trainer.generate(wd / "generation" if wd else None).flat_metrics())
    if wd is not None:
        (wd / FINAL_FILE).write_text(json.dumps({**result.final, R.STOP_REASON: result.stop_reason,
                                                 "epochs": trainer.epoch}, indent=1))
    return result
