"""The per-epoch readings on held-out and fixed images (method.md §6-7): validation clean and PGD accuracy
with eval-mode ΔE, the masking check, and the CO probe with its eval-mode ΔE.

All of them run the model in eval mode, at the evaluation radius (``eval.epsilon``, default the training
attack's), with the step of ``trainables.evaluation.defaults``, per-sample early stop, in the
evaluation precision. The masking check (``trainables.schema.config.MaskingCheck``) attacks the first ``n``
validation images the validation PGD left robust again, with APGD-CE and the gradient-free Square: a
sample counts as robust only if no attack broke it, and ``val/robust_acc`` = ``val/pgd_acc`` × (the share
of those images the check left robust): see ``masking_gap``.
"""
from __future__ import annotations

from typing import Callable, ContextManager

import torch
from torch import nn

from trainables.schema import records as R
from trainables.attacks import Attack, build_attack
from trainables.schema.config import RunConfig
from trainables.evaluation.defaults import step
from trainables.evaluation.evaluate import robust_accuracy
from trainables.energy.trace import EnergyTrace
from trainables.evaluation.masking_flag import FLAG_RULES, masking_gap


def eval_pgd(cfg: RunConfig, steps: int, restarts: int, autocast: Callable[[], ContextManager],
             test: bool = False) -> Attack:
    """A PGD evaluator for ``cfg``: evaluation radius and norm, eval-mode BN, early stop per sample, and the step
    of ``trainables.evaluation.defaults`` (``test``: the dataset's reference step; else ε/4)."""
    eps = cfg.eval_epsilon
    linf = cfg.eval_norm == "linf"  # the references' steps are L∞ steps
    alpha = step(eps, steps, cfg.data.name if linf else "", test and linf, cfg.eval.pgd_alpha)
    return build_attack("pgd", eps, alpha, steps=steps, restarts=restarts, norm=cfg.eval_norm,
                        bn="eval", early_stop=True, autocast=autocast)


class Validator:
    """Everything measured after a training epoch but the training trace; ``__call__`` returns the metrics."""

    def __init__(self, cfg: RunConfig, data, autocast: Callable[[], ContextManager]) -> None:
        ev = cfg.eval
        self.cfg, self.data, self.autocast = cfg, data, autocast
        self.val_attack = eval_pgd(cfg, ev.val_pgd_steps, ev.val_restarts, autocast)
        self.probe_attack = eval_pgd(cfg, ev.probe_pgd_steps, 1, autocast)
        self.masking = ev.masking
        self.masking_n = min(ev.masking.n, data.num_val)
        labels = data.val_labels
        self.chance = labels.bincount().max().item() / len(labels) if len(labels) else 0.0

    def __call__(self, model: nn.Module) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.data.num_val:
            out.update(self._validation(model))
        out.update(self.probe(model))
        return out

    def _validation(self, model: nn.Module) -> dict[str, float]:
        trace = EnergyTrace(seed=1)
        r = robust_accuracy(model, self.data.val_batches(self.cfg.eval.batch_size), self.val_attack, self.autocast,
                            trace, keep_first=self.masking_n)
        out = {R.VAL_CLEAN_ACC: r["clean_acc"], R.VAL_PGD_ACC: r["adv_acc"], R.VAL_CHANCE_ACC: self.chance}
        out.update({R.energy_key("val", k): v for k, v in trace.summary().items()})
        checked, broken = self._masking_counts(model, r["robust_mask"]) if self.masking_n else (0, 0)
        gap = masking_gap(r["adv_acc"], checked, broken)
        out[R.VAL_ROBUST_ACC] = r["adv_acc"] - gap
        if self.masking_n:
            flagged = FLAG_RULES[self.masking.flag](r["adv_acc"], checked, broken, self.masking.threshold)
            out[R.VAL_MASKING_GAP], out[R.VAL_MASKED] = gap, float(flagged)
        return out

    def _masking_counts(self, model: nn.Module, weak_ok: torch.Tensor) -> tuple[int, int]:
        """The check on the images among the first ``n`` that the validation attack left robust: how many it
        attacked, how many it broke."""
        n = weak_ok.numel()
        x, y = next(iter(self.data.val_batches(n)))
        x, y = x[:n][weak_ok], y[:n][weak_ok]
        if not len(y):
            return 0, 0
        survivors = masking_check(model, x, y, self.cfg.eval_epsilon / 255, self.cfg.eval_norm, self.masking)
        return len(y), len(y) - int(survivors.sum())

    def probe(self, model: nn.Module) -> dict[str, float]:
        """The CO probe: clean and PGD accuracy and eval-mode ΔE on the fixed training batch."""
        probe = self.data.probe_batch(self.cfg.eval.probe_size)
        trace = EnergyTrace(seed=2)
        r = robust_accuracy(model, [probe], self.probe_attack, self.autocast, trace)
        out = {R.PROBE_CLEAN_ACC: r["clean_acc"], R.PROBE_PGD_ACC: r["adv_acc"]}
        # eval-mode ΔE on the same training images every epoch: comparable across runs and epochs
        out.update({R.energy_key("probe", k): v for k, v in trace.summary().items()})
        return out


def masking_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str, check) -> torch.Tensor:
    """Which of ``(x, y)`` withstand APGD-CE, APGD-DLR and targeted APGD if asked, then Square (``check``: a ``MaskingCheck``), model in eval mode,
    fp32; a bool per image. The attacks seed themselves from ``check`` (torchattacks reseeds the global RNG)."""
    import torchattacks as ta

    was_training = model.training
    model.eval()
    norm = {"linf": "Linf", "l2": "L2"}[norm]
    try:
        apgd = ta.APGD(model, norm=norm, eps=eps, steps=check.apgd_steps, n_restarts=1, loss="ce", seed=0)
        with torch.no_grad():
            ok = model(apgd(x, y)).argmax(1) == y
        if check.apgd_dlr and ok.any():
            dlr = ta.APGD(model, norm=norm, eps=eps, steps=check.apgd_steps, n_restarts=1, loss="dlr", seed=0)
            with torch.no_grad():
                ok[ok.clone()] = model(dlr(x[ok], y[ok])).argmax(1) == y[ok]
        if check.apgd_targets and ok.any():
            with torch.no_grad():
                classes = model(x[:1]).shape[1]
            apgdt = ta.APGDT(model, norm=norm, eps=eps, steps=check.apgd_steps, n_restarts=1, n_classes=classes, seed=0)
            apgdt.n_target_classes = min(check.apgd_targets, classes - 1)  # the most likely other classes first
            with torch.no_grad():
                ok[ok.clone()] = model(apgdt(x[ok], y[ok])).argmax(1) == y[ok]
        if check.square_queries and ok.any():
            square = ta.Square(model, norm=norm, eps=eps, n_queries=check.square_queries, n_restarts=1, seed=0)
            with torch.no_grad():
                ok[ok.clone()] = model(square(x[ok], y[ok])).argmax(1) == y[ok]
    finally:
        model.train(was_training)
    return ok
