"""The adversarial-training loop: one ``EpochRecord`` per epoch, exact save/restore.

Randomness is re-derived from (seed, epoch) at the start of every epoch (global torch RNG for
attacks, the loader's own generator for order and augmentation), so the RNG state at an epoch
boundary is a function of what the checkpoint holds, and a run resumed at epoch k reproduces the
records of an uninterrupted run (on CPU in deterministic mode). Per-step statistics accumulate
on the device; the host reads them once per epoch (and once per window with ``eval.report_every``:
``trainables.training.window``). Every record carries the global optimizer step.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from pathlib import Path
from typing import Iterator, Optional

import torch

from trainables import checkpoint

from trainables.schema import records as R
from trainables.schema.config import RunConfig
from trainables.errors import CheckpointError
from trainables.evaluation.evaluate import robust_accuracy
from trainables.methods import build_method
from trainables.models import build_from_config
from trainables.models.saved import BEST_FILE, STATE_FILE
from trainables.training.optimizers import build_optimizer
from trainables.training.runtime import Runtime, derive_seed, seed_all
from trainables.training.schedules import build_schedule
from trainables.energy.trace import EnergyTrace
from trainables.evaluation.validation import Validator, eval_pgd
from trainables.training.window import Window, probe_reading

PROBE_KEYS = (R.PROBE_PGD_ACC, R.PROBE_CLEAN_ACC, *(R.energy_key("probe", k) for k in R.TRACE_STATS))
FORMAT = 1


class Trainer:
    """Holds model, optimiser and data for one run and advances it an epoch at a time."""

    def __init__(self, cfg: RunConfig, data=None) -> None:
        from trainables.data import build_data

        self.cfg = cfg
        self.rt = Runtime.from_config(cfg)
        seed_all(derive_seed(cfg.seed, "init"))
        self.data = data or build_data(cfg.data, cfg.batch_size, self.rt.device, cfg.seed, self.rt.channels_last)
        d = self.data
        self.model = build_from_config(cfg.model, d.num_classes, d.in_channels, d.mean, d.std, d.image_size)
        self.model.to(self.rt.device, memory_format=self.rt.memory_format)
        self.net = torch.compile(self.model) if cfg.compile else self.model
        o = cfg.optim.with_defaults()
        self.optimizer = build_optimizer(self.model.parameters(), o)
        self.schedule = build_schedule(cfg.schedule, o.lr, cfg.epochs)
        self.method = build_method(cfg.method, cfg.der, self.rt.autocast)
        self.eval_autocast = contextlib.nullcontext if cfg.eval.precision == "fp32" else self.rt.autocast
        self.validator = Validator(cfg, self.data, self.eval_autocast)
        self.epoch = 0  # epochs completed
        self.best_epoch = 0
        self.best_score = -math.inf  # val/robust_acc of the selected epoch
        self.best_val_pgd = -math.inf  # val/pgd_acc of the selected epoch
        self.best_masked = False  # whether the masking check flagged the selected epoch (``best/masked``)
        self.best_state: Optional[dict] = None

    # ---------------------------------------------------------------- training
    def epochs(self) -> Iterator[R.EpochRecord]:
        """Every record to the last epoch: each epoch's window reports (``eval.report_every``), then its record."""
        while self.epoch < self.cfg.epochs:
            yield from self.epoch_records()

    def train_epoch(self) -> R.EpochRecord:
        """One epoch; its epoch record (window reports, if any, are dropped)."""
        *_, record = self.epoch_records()
        return record

    def epoch_records(self) -> Iterator[R.EpochRecord]:
        cfg, e, dev = self.cfg, self.epoch, self.rt.device
        seed_all(derive_seed(cfg.seed, "epoch", e))
        self.net.train()
        trace = EnergyTrace(seed=derive_seed(cfg.seed, "trace", e) % (1 << 31))
        window = Window(cfg.eval.report_every, cfg.seed, e) if cfg.eval.report_every else None
        acc = torch.zeros(5, dtype=torch.float64, device=dev)  # method, der, adv correct, clean correct, clean n
        steps, n = self.data.steps_per_epoch, 0
        t0 = time.perf_counter()
        for i, (x, y) in enumerate(self.data.train_batches(e)):
            lr = self.schedule(e + (i + 1) / steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            want_nat = cfg.eval.energy_trace and i % cfg.eval.trace_every == 0
            out = self.method.step(self.net, x, y, want_nat=want_nat)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            self.optimizer.step()
            b = y.numel()
            clean_correct = clean_n = torch.zeros((), device=dev)
            traced = want_nat and out.logits_nat is not None
            if out.logits_nat is not None:
                clean_correct = (out.logits_nat.argmax(1) == y).sum()
                clean_n = torch.full((), b, device=dev)
                if traced:
                    trace.update(out.logits_nat, out.logits_adv, y)
            sums = torch.stack([out.method_loss * b, out.der_loss * b, (out.logits_adv.argmax(1) == y).sum(),
                                clean_correct, clean_n]).double()
            acc += sums
            n += b
            if window is not None:
                window.add(sums, b, out.logits_nat, out.logits_adv, y, traced)
                if window.due(i + 1, steps):
                    t1 = time.perf_counter()
                    yield self._window_record(window, e, i + 1)
                    t0 += time.perf_counter() - t1  # a report (probe, logging) is not training time
        if dev.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - t0
        a = acc.tolist()
        metrics = {
            R.LR: lr,
            R.LOSS_METHOD: a[0] / n, R.LOSS_DER: a[1] / n, R.LOSS_TOTAL: (a[0] + a[1]) / n,
            R.TRAIN_ADV_ACC: a[2] / n,
            R.TIME_TRAIN: train_s, R.TIME_IPS: n / train_s,
        }
        if a[4]:
            metrics[R.TRAIN_CLEAN_ACC] = a[3] / a[4]
        metrics.update({R.energy_key("train", k): v for k, v in trace.summary().items()})
        if not math.isfinite(metrics[R.LOSS_TOTAL]):
            metrics[R.NONFINITE] = 1.0
        metrics.update(self._validate())
        if window is not None:
            metrics.update(self._last_window(window, metrics, e))
        metrics[R.TIME_EPOCH] = time.perf_counter() - t0
        self.epoch += 1
        self._update_best(metrics.get(R.VAL_ROBUST_ACC), metrics.get(R.VAL_PGD_ACC), bool(metrics.get(R.VAL_MASKED)))
        metrics[R.BEST_EPOCH] = float(self.best_epoch)
        metrics[R.BEST_VAL_PGD], metrics[R.BEST_VAL_ROBUST] = self.best_val_pgd, self.best_score
        metrics[R.BEST_MASKED] = float(self.best_masked)
        yield R.EpochRecord(self.epoch, metrics, step=self.epoch * steps)

    def _window_record(self, window: Window, e: int, done: int) -> R.EpochRecord:
        """A sub-epoch report after step ``done`` of epoch ``e`` (0-based): the window and a probe reading."""
        steps = self.data.steps_per_epoch
        metrics = window.summary(done)
        metrics.update(probe_reading(self.validator, self.net, derive_seed(self.cfg.seed, "probe", e, done),
                                     self.rt.device))
        metrics[R.WINDOW_EPOCH] = e + done / steps
        return R.EpochRecord(e + done / steps, metrics, step=e * steps + done, partial=True)

    def _last_window(self, window: Window, metrics: dict, e: int) -> dict[str, float]:
        """The epoch's last window, for its epoch record; its probe reading is the epoch's own."""
        out = window.summary(self.data.steps_per_epoch)
        out.update({R.window_key(k): metrics[k] for k in PROBE_KEYS if k in metrics})
        out[R.WINDOW_EPOCH] = float(e + 1)
        return out

    def _validate(self) -> dict[str, float]:
        return self.validator(self.net)

    def _update_best(self, score: Optional[float], val_pgd: Optional[float], masked: bool = False) -> None:
        """Select the epoch with the highest masking-checked validation reading ``val/robust_acc`` (never test),
        flagged or not: the checked reading already subtracts what the masking check broke, so a flagged epoch
        whose checked reading is higher is the more robust checkpoint by the platform's best estimate; its flag
        marks the trial (``best/masked``) instead of vetoing the epoch (docs/method.md, "Which checkpoint").
        Ties keep the earlier epoch. Without a validation split: the last epoch."""
        score = score if score is not None and math.isfinite(score) else None
        if score is None and self.data.num_val:
            return
        if score is None or score > self.best_score:
            self.best_epoch, self.best_masked = self.epoch, masked
            if score is not None:
                self.best_score, self.best_val_pgd = score, val_pgd
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {
            "format": FORMAT, "epoch": self.epoch, "config_json": self.cfg.model_dump_json(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "best": {"epoch": self.best_epoch, "score": self.best_score, "val_pgd_acc": self.best_val_pgd,
                     "masked": self.best_masked},
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``state.pt`` (everything to resume) and ``best.pt`` (the selected weights)."""
        directory = Path(directory)
        checkpoint.save(self.state_dict(), directory / STATE_FILE)
        if self.best_state is not None:
            checkpoint.save({"format": FORMAT, "epoch": self.best_epoch, "val_robust_acc": self.best_score,
                             "val_pgd_acc": self.best_val_pgd, "masked": self.best_masked,
                             "config_json": self.cfg.model_dump_json(), "model": self.best_state},
                            directory / BEST_FILE)
        return directory

    def load(self, directory: str | Path, resume: bool = True) -> None:
        """Restore from a directory written by ``save``; errors name the file and the fix. ``resume``: training goes
        on from here, so the settings that shape the run must be the checkpoint's (``ConfigDriftError`` otherwise);
        ``False`` for a load that only reads the weights (a test evaluation)."""
        directory = Path(directory)
        path = directory / STATE_FILE
        state = checkpoint.load(path, map_location=self.rt.device)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"checkpoint {path} is not a training state written by this platform")
        if resume and state.get("config_json"):  # before any weight moves (trainables/training/drift.py)
            import json

            from trainables.errors import ConfigDriftError
            from trainables.training.drift import describe, drift

            found = drift(json.loads(state["config_json"]), self.cfg.model_dump(mode="json"))
            if found:
                raise ConfigDriftError(describe(found, str(directory)))
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"checkpoint {path} does not fit this run's model/optimiser: {str(e)[:300]}") from None
        self.epoch = int(state["epoch"])
        self.best_epoch = int(state["best"]["epoch"])
        self.best_val_pgd = float(state["best"]["val_pgd_acc"])
        self.best_score = float(state["best"].get("score", self.best_val_pgd))
        self.best_masked = bool(state["best"].get("masked", False))
        self.best_state = None
        if (directory / BEST_FILE).exists():
            self.best_state = checkpoint.load(directory / BEST_FILE)["model"]

    # ---------------------------------------------------------------- generation
    def generate(self, out_dir: Optional[Path] = None):
        """Sample from the selected (best) weights with ``cfg.generate`` (method.md §8); grids go to ``out_dir``."""
        from trainables.generation import generate

        model = copy.deepcopy(self.model)
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        return generate(model, self.data, self.cfg.generate, out_dir)

    # ---------------------------------------------------------------- final evaluation
    def final_eval(self) -> dict[str, float]:
        """Test clean / PGD-k (restarts) / AutoAttack on the best and the last weights, at the evaluation
        radius, in the evaluation precision."""
        from trainables.attacks.autoattack import VERSIONS, autoattack_accuracy

        cfg, out = self.cfg, {}
        candidates = {"last": self.model.state_dict()}
        if self.best_state is not None:
            candidates["best"] = self.best_state
        model = copy.deepcopy(self.model)
        batches = list(self.data.test_batches(cfg.eval.batch_size))
        for which, state in candidates.items():
            model.load_state_dict(state)
            r = robust_accuracy(model, batches, None, self.eval_autocast)
            out[R.test_key(which, "clean_acc")] = r["clean_acc"]
            for steps, restarts in cfg.eval.test_pgd:
                seed_all(derive_seed(cfg.seed, "test", steps, restarts))
                r = robust_accuracy(model, batches, eval_pgd(cfg, steps, restarts, self.eval_autocast, test=True), self.eval_autocast)
                out[R.test_key(which, f"pgd{steps}x{restarts}_acc")] = r["adv_acc"]
            if cfg.eval.autoattack:
                n = cfg.eval.autoattack_n
                x, y = torch.cat([b[0] for b in batches])[:n], torch.cat([b[1] for b in batches])[:n]
                version = cfg.eval.autoattack_version
                out[R.test_key(which, VERSIONS[version].metric)] = autoattack_accuracy(
                    model, x, y, cfg.eval_epsilon / 255, cfg.eval_norm, self.data.num_classes, cfg.eval.batch_size,
                    cfg.seed, version)
        out[R.test_key("best", "epoch")] = float(self.best_epoch)
        return out
