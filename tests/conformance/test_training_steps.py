"""Issue 27: the platform's training steps equal a reference loop written from each recipe's description.

What is compared. The platform trains through ``Trainer.epochs()`` (method, optimizer, schedule, and between
epochs its hooks: validation PGD, the CO probe, the masking check, the ΔE trace's clean forwards, and in case
(a) mid-epoch window reports with their probe readings). A reference loop written here, from the reference
scripts' descriptions, trains a network of its own (loaded with the platform's initial weights) with its own
attack code, loss, ``torch.optim`` optimizer and learning-rate function; it shares with the platform only
the batches (``trainer.data.train_batches(epoch)``, the same images in the same order) and the random starts:
the platform reseeds the global torch RNG with ``derive_seed(seed, "epoch", e)`` at each epoch start, and the
reference does the same and draws its starts from that RNG in the reference scripts' order. After every epoch
the two networks' parameters and BatchNorm buffers must agree. Three recipes, fp32, deterministic CPU, 1 thread:

(a) fast_adversarial MNIST ``train_mnist.py`` (``search_spaces/recipes/fa_mnist_fgsm.yaml``, read as the
    platform reads it, shrunk): mnist_net without BatchNorm on raw pixels, RS-FGSM ε 0.3 α 0.375 from an
    unclipped uniform start, Adam 5e-3, no weight decay, the triangle lr(epoch + (i + 1)/steps) 0 → 5e-3 at
    ``epochs * 2 // 5`` → 0 (np.interp, as the script); 5 epochs so that the peak (epoch 2) is a whole epoch in
    both.
(b) robust_overfitting ``train_cifar.py``: PGD-10 AT, α = ε/4, uniform start clipped to the image, attack in
    train mode; SGD 0.1, momentum 0.9, weight decay 5e-4; its piecewise lr_schedule(epoch + (i + 1)/steps),
    ×0.1 once t/epochs ≥ 0.5 and again at 0.75 (4 epochs: the drops fall on whole epochs). Small CNN with
    BatchNorm, inputs standardised inside the model as the script's ``normalize``.
(c) TRADES ``trades.py`` / ``train_trades_cifar10.py``: β = 6, x* from x + 0.001·N(0, 1) ascending
    KL(p(x) ‖ p(x*)) (10 steps of ε/4) with the model in eval mode, ``model.train()`` for the loss; SGD 0.1,
    momentum 0.9, weight decay 2e-4, lr set per epoch (``adjust_learning_rate``: ×0.1 from the milestone
    epoch on). Small CNN with BatchNorm, raw pixels.

Where the reference follows the platform's documented choice instead of the script (docs/method.md, "Known
differences left", each BatchNorm bookkeeping): robust_overfitting's ``attack_pgd`` makes one more train-mode
forward per restart (its max-loss bookkeeping) and its loop a train-mode clean forward after the step (for its
log); TRADES computes the clean forward twice in train mode. In (b) those forwards move only BatchNorm
running statistics, which no train-mode forward reads, so the parameters must agree with the script as
written (checked) and the buffers with the documented choice (checked). In (c) the attack runs in eval mode
and reads the running statistics, so the second clean forward would change x* from the second step on: the
reference makes the clean forward once, as the platform does. And (c)'s reference carries x* as x + δ (δ
projected to the ε-ball and the image), the same numbers as TRADES's in-place update of x_adv but rounded
like the platform's: TRADES's first ascent step reads the sign of a gradient of order 1e-7 (the KL is flat at
x* = x), so one float32 ulp anywhere (x_adv rounded the other way, then a running variance 6e-8 apart after
the first step) flips thousands of first-step signs of the next batch and the weights part by 1e-3. With the
same rounding the two agree bit for bit; the logic compared is unchanged.

What the comparison found (issue 27): the piecewise schedule dropped the rate one step after
robust_overfitting's (at the first step of the milestone epoch, TRADES's per-epoch choice; the script's
``t / epochs < 0.5`` already lowers the last step of the epoch before): ``schedule.milestone_drop: reached``
is the script's function, used in (b) and by ``search_spaces/recipes/ro_cifar10_pgd.yaml``.

Tolerance: 1e-5 absolute on every parameter and buffer (weights of order 0.01-1). Both sides run the same
float32 operations on the same inputs and agree exactly today; what may legitimately differ is the rounding of
mathematically equal expressions (a mean or a sum reduction in the attack loss: the batch of 64 keeps the 1/64
scale exact, so no gradient sign can change between the two; a clamp that is a no-op), which moves weights by
1e-7 or less. A logic difference (a sign of an attack step, a learning rate one step early or late, a start
clipped or not, an extra BatchNorm update, a hook that touched the weights) moves them by 1e-4 or more within
an epoch: the last test checks that the smallest of these fails the comparison.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from testlib import tiny_run
from trainables.schema import records as R
from trainables.schema.config import RunConfig, with_overrides
from trainables.training.runtime import derive_seed
from trainables.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
TOL = 1e-5
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the published MNIST constants robust_overfitting-style scripts use
HOOKS = {  # light per-epoch hooks: every one runs, none dominates the runtime
    "eval.val_pgd_steps": 3, "eval.probe_size": 64, "eval.probe_pgd_steps": 3, "eval.final": False,
    "eval.masking.n": 16, "eval.masking.apgd_steps": 10, "eval.masking.square_queries": 20,
}
SMALL = {"data.train_subset": 512, "data.val_size": 128, "data.test_subset": 128, "batch_size": 64,
         "threads": 1, "deterministic": True, "device": "cpu", "precision": "fp32", **HOOKS}


# ---------------------------------------------------------------- the reference side
def reference_net(width: int, batchnorm: bool) -> nn.Module:
    """fast_adversarial's ``mnist_net`` (two 4x4 stride-2 convolutions, 100 hidden units), BatchNorm optional."""
    def bn(c):
        return [nn.BatchNorm2d(c)] if batchnorm else []

    return nn.Sequential(
        nn.Conv2d(1, width, 4, stride=2, padding=1), *bn(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), *bn(2 * width), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10))


def fa_mnist_step(model, opt, X, y, eps=0.3, alpha=0.375):
    """fast_adversarial ``train_mnist.py``, ``--attack fgsm``: the start is not clipped to the image."""
    delta = torch.zeros_like(X).uniform_(-eps, eps)
    delta.requires_grad = True
    loss = F.cross_entropy(model(X + delta), y)
    loss.backward()
    grad = delta.grad.detach()
    delta.data = torch.clamp(delta + alpha * torch.sign(grad), -eps, eps)
    delta.data = torch.max(torch.min(1 - X, delta.data), 0 - X)
    delta = delta.detach()
    output = model(torch.clamp(X + delta, 0, 1))
    loss = F.cross_entropy(output, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def ro_normalize(X):
    return (X - torch.tensor(MNIST_MEAN).view(1, 1, 1, 1)) / torch.tensor(MNIST_STD).view(1, 1, 1, 1)


def ro_step(model, opt, X, y, eps, alpha, iters, script_forwards: bool):
    """robust_overfitting ``train_cifar.py``: ``attack_pgd`` (L∞, 1 restart, no early stop) in train mode, then
    the robust loss. ``script_forwards``: also its two train-mode forwards that feed only its bookkeeping."""
    def clamp(t, lo, hi):
        return torch.max(torch.min(t, hi), lo)

    delta = torch.zeros_like(X)
    delta.uniform_(-eps, eps)
    delta = clamp(delta, 0 - X, 1 - X)
    delta.requires_grad = True
    for _ in range(iters):
        output = model(ro_normalize(X + delta))
        loss = F.cross_entropy(output, y)
        loss.backward()
        grad = delta.grad.detach()
        d = torch.clamp(delta + alpha * torch.sign(grad), min=-eps, max=eps)
        delta.data = clamp(d, 0 - X, 1 - X)
        delta.grad.zero_()
    if script_forwards:  # max-loss bookkeeping across restarts
        F.cross_entropy(model(ro_normalize(X + delta)), y, reduction="none")
    delta = delta.detach()
    robust_output = model(ro_normalize(torch.clamp(X + delta, min=0, max=1)))
    robust_loss = F.cross_entropy(robust_output, y)
    opt.zero_grad()
    robust_loss.backward()
    opt.step()
    if script_forwards:  # the clean output for the training log
        model(ro_normalize(X))


def trades_step(model, opt, X, y, eps, step_size, steps, beta):
    """TRADES ``trades_loss`` (L∞) and the training step around it. Two choices (module docstring): x* is
    carried as x + δ, and the clean train-mode forward is made once (the script makes it twice)."""
    model.eval()
    delta = 0.001 * torch.randn(X.shape).detach()  # x_adv = x + 0.001·N(0, 1)
    for _ in range(steps):
        x_adv = (X + delta).requires_grad_()
        with torch.enable_grad():
            loss_kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(model(X), dim=1), reduction="sum")
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        delta = delta + step_size * torch.sign(grad.detach())
        delta = torch.clamp(delta, -eps, eps)  # x_adv = min(max(x_adv, x - ε), x + ε)
        delta = torch.max(torch.min(delta, 1 - X), -X)  # x_adv = clamp(x_adv, 0, 1)
    model.train()
    x_adv = torch.clamp(X + delta, 0.0, 1.0).detach()
    opt.zero_grad()
    logits = model(X)
    loss_natural = F.cross_entropy(logits, y)
    loss_robust = (1.0 / len(X)) * F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1),
                                            reduction="sum")
    loss = loss_natural + beta * loss_robust
    loss.backward()
    opt.step()


# ---------------------------------------------------------------- the comparison
def run_both(cfg: RunConfig, ref_model: nn.Module, make_opt, lr_at, step, epochs: int) -> tuple[list[dict], list]:
    """Train the platform (``Trainer.epochs()``) and the reference epoch by epoch from the same initial weights;
    per epoch, the largest absolute difference of each state entry (parameters and buffers); and the platform's
    records (window reports included)."""
    trainer = Trainer(cfg)
    ref_model.load_state_dict(trainer.model.net.state_dict())
    opt = make_opt(ref_model)
    data, diffs, records = trainer.data, [], []
    platform = trainer.epochs()
    for e in range(epochs):
        for record in platform:  # window reports (if any), then the epoch's record
            records.append(record)
            if not record.partial:
                break
        torch.manual_seed(derive_seed(cfg.seed, "epoch", e))  # what the platform does at each epoch start
        ref_model.train()
        steps = data.steps_per_epoch
        for i, (X, y) in enumerate(data.train_batches(e)):
            opt.param_groups[0].update(lr=lr_at(e, i, steps))
            step(ref_model, opt, X, y)
        mine = trainer.model.net.state_dict()
        diffs.append({k: (mine[k].double() - v.double()).abs().max().item() for k, v in ref_model.state_dict().items()})
    return diffs, records


def assert_close(diffs: list[dict], keys=None) -> None:
    for e, d in enumerate(diffs):
        bad = {k: v for k, v in d.items() if (keys is None or k in keys) and not v <= TOL}
        assert not bad, f"epoch {e + 1}: state differs from the reference beyond {TOL}: {bad}"


def recipe_config(data_root) -> RunConfig:
    """search_spaces/recipes/fa_mnist_fgsm.yaml as the platform reads it, on a small subset for 5 epochs."""
    import yaml

    raw = yaml.safe_load((REPO / "search_spaces" / "recipes" / "fa_mnist_fgsm.yaml").read_text())
    cfg = RunConfig.model_validate(raw)
    return with_overrides(cfg, {**SMALL, "data.root": str(data_root), "epochs": 5, "eval.report_every": 3,
                                "eval.autoattack": False})


def fa_lr(epochs: int, lr_max: float = 5e-3):
    """fast_adversarial's cyclic schedule, set before every step at epoch + (i + 1)/steps."""
    return lambda e, i, steps: np.interp([e + (i + 1) / steps], [0, epochs * 2 // 5, epochs], [0, lr_max, 0])[0]


def ro_lr(epochs: int, lr_max: float = 0.1):
    """robust_overfitting's piecewise schedule, set before every step at epoch + (i + 1)/steps."""
    def lr_schedule(t):
        if t / epochs < 0.5:
            return lr_max
        elif t / epochs < 0.75:
            return lr_max / 10.
        return lr_max / 100.

    return lambda e, i, steps: lr_schedule(e + (i + 1) / steps)


def trades_lr(milestone_epoch: int, lr_max: float = 0.1):
    """TRADES's ``adjust_learning_rate``: per epoch (1-based), ×0.1 from ``milestone_epoch`` on."""
    def adjust(epoch):
        return lr_max * 0.1 if epoch >= milestone_epoch else lr_max

    return lambda e, i, steps: adjust(e + 1)


def bn_run(data_root, **over) -> RunConfig:
    base = tiny_run(data_root, model={"name": "small_cnn", "width": 8, "batchnorm": True})
    return with_overrides(RunConfig.model_validate(base), {**SMALL, **over})


# ---------------------------------------------------------------- the tests
def test_fa_mnist_recipe_steps_equal_the_reference(data_root):
    """(a): the recipe, as the platform reads its YAML, against fast_adversarial's MNIST loop."""
    cfg = recipe_config(data_root)
    assert (cfg.method.name, cfg.method.clip_start, cfg.model.batchnorm, cfg.model.normalize) == (
        "rs_fgsm", False, False, False)
    diffs, records = run_both(cfg, reference_net(16, batchnorm=False),
                              lambda m: torch.optim.Adam(m.parameters(), lr=5e-3), fa_lr(cfg.epochs), fa_mnist_step,
                              cfg.epochs)
    assert_close(diffs)
    # the hooks ran between (and within) the epochs compared: validation with the masking check, probe, trace
    epochs = [r for r in records if not r.partial]
    assert len(epochs) == cfg.epochs and len(records) > len(epochs)  # window reports with their probe readings
    for key in (R.VAL_PGD_ACC, R.VAL_MASKING_GAP, R.PROBE_PGD_ACC, R.energy_key("train", "delta_mean")):
        assert all(key in r.metrics for r in epochs), key


def test_pgd_at_steps_equal_robust_overfitting(data_root):
    """(b): parameters against the script as written; parameters and BatchNorm buffers against the reference
    making each forward once (the platform's documented choice)."""
    eps = 0.3
    cfg = bn_run(data_root, **{"method.name": "pgd", "method.epsilon": eps * 255, "method.steps": 10,
                               "optim.name": "sgd", "optim.lr": 0.1, "optim.momentum": 0.9,
                               "optim.weight_decay": 5e-4, "schedule.name": "piecewise",
                               "schedule.milestones": [0.5, 0.75], "schedule.milestone_drop": "reached",
                               "model.normalize": True, "epochs": 4})

    def sgd(m):
        return torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    for script_forwards in (True, False):
        diffs, _ = run_both(cfg, reference_net(8, batchnorm=True), sgd, ro_lr(cfg.epochs),
                         lambda m, o, X, y: ro_step(m, o, X, y, eps, eps / 4, 10, script_forwards), cfg.epochs)
        params = {k for k, _ in reference_net(8, batchnorm=True).named_parameters()}
        assert_close(diffs, params if script_forwards else None)


def test_trades_steps_equal_the_reference(data_root):
    """(c): TRADES with its per-epoch learning rate (piecewise, milestone at the second of 3 epochs)."""
    eps = 0.3
    cfg = bn_run(data_root, **{"method.name": "trades", "method.epsilon": eps * 255, "method.steps": 10,
                               "method.trades_beta": 6.0, "optim.name": "sgd", "optim.lr": 0.1,
                               "optim.momentum": 0.9, "optim.weight_decay": 2e-4, "schedule.name": "piecewise",
                               "schedule.milestones": [1 / 3], "model.normalize": False, "epochs": 3})
    diffs, _ = run_both(cfg, reference_net(8, batchnorm=True),
                        lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4),
                        trades_lr(2), lambda m, o, X, y: trades_step(m, o, X, y, eps, eps / 4, 10, 6.0), cfg.epochs)
    assert_close(diffs)


def test_the_comparison_sees_a_one_step_difference(data_root):
    """The tolerance is tight enough: the recipe against a reference whose learning rate runs one step late
    (lr(epoch + i/steps) instead of lr(epoch + (i + 1)/steps)) fails it after the first epoch."""
    cfg = with_overrides(recipe_config(data_root), {"epochs": 5, "eval.report_every": None})
    late = fa_lr(cfg.epochs)
    diffs, _ = run_both(cfg, reference_net(16, batchnorm=False), lambda m: torch.optim.Adam(m.parameters(), lr=5e-3),
                        lambda e, i, steps: late(e, i - 1, steps), fa_mnist_step, 1)
    assert max(diffs[0].values()) > 100 * TOL
