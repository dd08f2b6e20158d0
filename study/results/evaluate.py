"""The study's answer: the strong test reading of its best configurations, once (issue 32).

A study selects on validation; the test set answers one question at its end: how robust are the configurations
it found? ``evaluate_answer`` ranks the COMPLETE trials as ``study export`` does (by the first search metric, or
a two-objective study's Pareto set), loads the selected checkpoint (``best.pt``, ``torch.load(weights_only=True)``
via ``trainables.checkpoint``) of every seed of the top ``k``, and reads it on the first ``images`` test images:
clean accuracy, PGD (``pgd``: steps × restarts, each restart on the images earlier ones left robust, so the
reading equals PGD-k×r with per-sample early stop at a fraction of its cost) and AutoAttack (fra31's standard,
``trainables.attacks.autoattack``), at the study's evaluation radius, in fp32. Each phase prints a progress line
(``study.console.phases``): which trial and seed, which attack, how many images, how far, the seconds elapsed.

The reading is recorded by ``study.results.answer`` (Optuna, MLflow) and shown by ``study status``, ``study export``
and the report. It runs at a study's end for ``evaluation.answer.top`` configurations, and by
``study evaluate NAME --top K`` at any time after.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from study.errors import UserError
from trainables.models.saved import BEST_FILE

Say = Callable[[str], None]
# Images per AutoAttack call, a progress line after each (the phase's heartbeat speaks in between). Square's 5,000
# queries are a fixed cost per call on whatever images survive: on 1,000 Fashion-MNIST images (small CNN, 2 cores),
# calls of 50 took 270 s, calls of 250 72 s, with the same reading (issue 32).
AA_CHUNK = 250


@dataclass
class Settings:
    """How the answer is read: images, PGD readings, AutoAttack version ("off": none)."""

    images: int
    pgd: list[tuple[int, int]]
    autoattack: str

    @classmethod
    def from_spec(cls, spec, images: Optional[int] = None, at_end: bool = False) -> "Settings":
        """The spec's answer settings (``at_end``: as the study's end reads them, ``evaluation.answer.at_end``)."""
        a = spec.evaluation.answer
        autoattack = "off" if at_end and a.at_end == "pgd" else a.autoattack
        return cls(images or a.images, [tuple(p) for p in a.pgd], autoattack)

    def as_dict(self) -> dict:
        return {"images": self.images, "pgd": [list(p) for p in self.pgd], "autoattack": self.autoattack}

    def describe(self) -> str:
        parts = ["clean"] + [f"PGD-{s}x{r}" for s, r in self.pgd]
        if self.autoattack != "off":
            parts.append("AutoAttack" + (" (APGD-CE + APGD-T)" if self.autoattack == "apgd" else " standard"))
        return f"{', '.join(parts)} on {self.images:,} test images"


@dataclass
class AnswerRun:
    """What one call read and recorded."""

    answer: dict
    evaluated: list[int] = field(default_factory=list)  # trial numbers read now
    reused: list[int] = field(default_factory=list)  # trial numbers already read with these settings
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------- finding the checkpoints

def trial_dir(storage_path: str, study: str, ray_trial_id: str) -> Path:
    """Where Ray Tune keeps a trial's checkpoints (``study.run.engine``: ``trial_<id>`` under the experiment)."""
    if "://" in storage_path:
        raise UserError(f"study {study!r} keeps its checkpoints on remote storage ({storage_path}); reading its "
                        f"answer needs them on this machine: copy {storage_path.rstrip('/')}/{study} to a local "
                        f"folder and run this on a machine that mounts it")
    from study.stores.workspace import trial_folder_name

    return Path(storage_path) / study / trial_folder_name(ray_trial_id)


def best_checkpoint(folder: Path) -> Path:
    """The newest ``checkpoint_*/best.pt`` of a trial folder: the weights of its selected epoch."""
    found = sorted(folder.glob(f"checkpoint_*/{BEST_FILE}"), key=lambda p: p.parent.name)
    if not found:
        raise UserError(f"no {BEST_FILE} under {folder}: the trial kept no checkpoint there (was the study run with "
                        f"another --storage-path, or its folder deleted?)")
    return found[-1]


# ---------------------------------------------------------------- reading one checkpoint

class Reader:
    """Reads checkpoints on the test set; the data of one data config is split once and reused."""

    def __init__(self, settings: Settings, data_root: Optional[str], say: Say) -> None:
        self.settings, self.data_root, self.say = settings, data_root, say
        self._data: dict[str, object] = {}

    def read(self, path: Path, who: str) -> dict:
        """{"epoch", "masked", "val_robust_acc", "checkpoint", "metrics": {test/answer/...}, "seconds"} of one
        ``best.pt``."""
        import torch

        from study.results import answer as A
        from study.console.phases import Phase
        from trainables import checkpoint
        from trainables.schema.config import RunConfig
        from trainables.models import build_from_config

        t0 = time.monotonic()
        state = checkpoint.load(path)
        cfg = RunConfig.model_validate_json(state["config_json"])
        data = self._bundle(cfg)
        model = build_from_config(cfg.model, data.num_classes, data.in_channels, data.mean, data.std, data.image_size)
        model.load_state_dict(state["model"])
        model.to(data.device).eval()
        x, y = self._images(data)
        n = len(y)
        epoch = int(state.get("epoch", 0))
        self.say(f"{who}: {BEST_FILE} of epoch {epoch} ({path.parent.name}); {self.settings.describe()}"
                 + (f" (the test set has {n:,})" if n < self.settings.images else ""))
        metrics: dict[str, float] = {}
        with torch.no_grad():
            correct = _correct(model, x, y, cfg.eval.batch_size)
        metrics[A.key("clean_acc")] = correct.float().mean().item()
        self.say(f"  {who}: clean {100 * metrics[A.key('clean_acc')]:.1f}% of {n:,} images")
        for steps, restarts in self.settings.pgd:
            with Phase(self.say, f"  {who}: PGD-{steps}x{restarts} on {n:,} images") as phase:
                broken = _pgd(cfg, model, x, y, correct, steps, restarts, phase)
                acc = (correct & ~broken).float().mean().item()
                phase.finish(f"{100 * acc:.1f}%")
            metrics[A.key(f"pgd{steps}x{restarts}_acc")] = acc
        if self.settings.autoattack != "off":
            from trainables.attacks.autoattack import VERSIONS

            name = "AutoAttack " + self.settings.autoattack
            with Phase(self.say, f"  {who}: {name} on {n:,} images") as phase:
                acc = _autoattack(cfg, model, x, y, data.num_classes, self.settings.autoattack, phase)
                phase.finish(f"{100 * acc:.1f}%")
            metrics[A.key(VERSIONS[self.settings.autoattack].metric)] = acc
        return {"epoch": epoch, "masked": bool(state.get("masked", False)),
                "val_robust_acc": _finite(state.get("val_robust_acc")), "checkpoint": str(path),
                "metrics": metrics, "seconds": round(time.monotonic() - t0, 1)}

    def _bundle(self, cfg):
        """The trial's data, its test set whole (the answer reads its first ``images``), on this machine."""
        from trainables.data import build_data
        from trainables.training.runtime import Runtime

        root = cfg.data.root or self.data_root
        data_cfg = cfg.data.model_copy(update={"root": root, "test_subset": None, "num_workers": 0})
        k = data_cfg.model_dump_json()
        if k not in self._data:
            rt = Runtime.from_config(cfg.model_copy(update={"threads": None, "deterministic": False}))
            self._data[k] = build_data(data_cfg, cfg.batch_size, rt.device, cfg.seed, False)
        return self._data[k]

    def _images(self, data):
        import torch

        batches = list(data.test_batches(self.settings.images, limit=self.settings.images))
        return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def _finite(x) -> Optional[float]:
    import math

    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _correct(model, x, y, batch: int):
    import torch

    return torch.cat([model(x[i:i + batch]).argmax(1) == y[i:i + batch] for i in range(0, len(y), batch)])


def _pgd(cfg, model, x, y, correct, steps: int, restarts: int, phase):
    """Which images PGD-steps×restarts breaks: each restart attacks only the correctly classified images every
    earlier restart left robust (with per-sample early stop a broken image stays broken, so this is the same
    reading as running every restart on every image, at a fraction of the cost)."""
    import torch

    from trainables.training.runtime import derive_seed, seed_all
    from trainables.evaluation.validation import eval_pgd

    attack = eval_pgd(cfg, steps, 1, contextlib.nullcontext, test=True)
    broken = torch.zeros_like(correct)
    batch = cfg.eval.batch_size
    for r in range(restarts):
        seed_all(derive_seed(cfg.seed, "answer", steps, restarts, r))
        todo = (correct & ~broken).nonzero().flatten()
        phase.status(f"restart {r + 1}/{restarts}, {len(todo):,} images still robust", show=r > 0)
        for i in range(0, len(todo), batch):
            idx = todo[i:i + batch]
            x_adv = attack(model, x[idx], y[idx]).x_adv
            with torch.no_grad():
                broken[idx] |= model(x_adv).argmax(1) != y[idx]
            phase.status(f"restart {r + 1}/{restarts}, {min(i + batch, len(todo)):,}/{len(todo):,} images")
        if not (correct & ~broken).any():
            break
    return broken


def _autoattack(cfg, model, x, y, num_classes: int, version: str, phase) -> float:
    """AutoAttack accuracy on ``(x, y)``, read in chunks so the phase can say how far it got."""
    from trainables.attacks.autoattack import autoattack_accuracy

    n, chunk, correct = len(y), min(cfg.eval.batch_size, AA_CHUNK), 0.0
    for i in range(0, n, chunk):
        xb, yb = x[i:i + chunk], y[i:i + chunk]
        correct += len(yb) * autoattack_accuracy(model, xb, yb, cfg.eval_epsilon / 255, cfg.eval_norm, num_classes,
                                                 chunk, cfg.seed, version)
        phase.status(f"{min(i + chunk, n):,}/{n:,} images, robust so far {100 * correct / min(i + chunk, n):.1f}%")
    return correct / max(n, 1)


# ---------------------------------------------------------------- the answer of a study

def evaluate_answer(handle, top: int, say: Say, images: Optional[int] = None, again: bool = False,
                    at_end: bool = False) -> AnswerRun:
    """Read the ``top`` best configurations of a study on test, record the reading, and return it."""
    from study.results import answer as A
    from study.results.export import select_trials
    from study.results.reading import mlflow_runs
    from study.search.search import TrialAttrs

    if handle.spec.kind != "train":
        raise UserError(f"study {handle.name!r} is a generation study: it has no classifier checkpoints to read on "
                        f"the test set")
    t0 = time.monotonic()
    settings = Settings.from_spec(handle.spec, images, at_end)
    study = handle.load_optuna()
    sel = select_trials(study, handle.spec, top)
    previous = A.read_answer(study)
    same = previous.get("settings") == settings.as_dict()
    reader = Reader(settings, handle.data_root, say)
    runs = mlflow_runs(handle)
    ranked_by = " and ".join(sel.metrics)
    say(f"the study's answer: {sel.notes[0]}, each read by {settings.describe()}")
    result = AnswerRun({})
    entries: dict[int, dict] = {}
    for rank, (trial, scores) in enumerate(zip(sel.trials, sel.scores), start=1):
        if same and not again and str(trial.number) in previous.get("trials", {}):
            result.reused.append(trial.number)
            say(f"trial {trial.number} (rank {rank}): already read with these settings "
                f"({A.phrase(previous['trials'][str(trial.number)], previous)}); --again reads it anew")
            continue
        ray_ids = list(TrialAttrs.of(trial).ray_trial_ids)
        seeds = []
        for i, rid in enumerate(ray_ids):
            who = f"trial {trial.number}" + (f" seed {i}" if len(ray_ids) > 1 else "") + f" (rank {rank})"
            seed = reader.read(best_checkpoint(trial_dir(handle.storage_path, handle.name, rid)), who)
            seeds.append({"seed_index": i, "ray_trial_id": rid, **seed})
        entries[trial.number] = A.entry_for(rank, scores[0], seeds)
        result.evaluated.append(trial.number)
        say(f"trial {trial.number} (rank {rank}): {A.phrase(entries[trial.number], {'settings': settings.as_dict()})}")
    answer = A.merged(previous, settings.as_dict(), ranked_by, entries)
    for rank, trial in enumerate(sel.trials, start=1):  # a reading kept from before takes this ranking's place
        if str(trial.number) in answer["trials"]:
            answer["trials"][str(trial.number)]["rank"] = rank
    A.write_answer(study, answer)
    run_ids = {t.number: [runs.by_trial[r].info.run_id if r in runs.by_trial else None
                          for r in TrialAttrs.of(t).ray_trial_ids] for t in sel.trials if t.number in entries}
    note = A.log_to_mlflow(handle.mlflow_uri, handle.mlflow_parent_run_id, run_ids, answer) if entries else None
    result.answer, result.notes = answer, [note] if note else []
    result.seconds = time.monotonic() - t0
    return result
