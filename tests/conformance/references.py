"""Reference implementations written independently of the platform, from the papers and the reference
repositories' descriptions (fast_adversarial, robust_overfitting, N-FGSM, TRADES, GradAlign, fra31's
AutoAttack). They share no code with ``trainables``: each is a plain loop over tensors, written the way
the reference scripts write them (``torch.zeros_like(x).uniform_``, ``loss.backward()`` on a delta
that requires grad, in-place masked updates), so that a test comparing the two compares two
independent implementations of one definition. Pixels are in [0, 1]; the model normalises itself.

The random draws happen in the same order and shapes as the references', so that with one seed the
reference and the platform start from the same points (the conformance tests rely on this).
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F


def _clip(delta, x):
    return torch.max(torch.min(delta, 1 - x), -x)


def fgsm_train_delta(model, x, y, eps, alpha, init="zero"):
    """fast_adversarial's training FGSM: delta from zero or U(−ε, ε), clipped to the image, one signed
    step of α, projected to the ε-ball and clipped again (train_fgsm.py / train_mnist.py)."""
    delta = torch.zeros_like(x)
    if init == "random":
        delta.uniform_(-eps, eps)
        delta.data = _clip(delta, x)
    delta.requires_grad = True
    F.cross_entropy(model(x + delta), y).backward()
    grad = delta.grad.detach()
    delta.data = torch.clamp(delta + alpha * torch.sign(grad), -eps, eps)
    delta.data = _clip(delta, x)
    model.zero_grad(set_to_none=True)
    return delta.detach()


def nfgsm_train_delta(model, x, y, eps, alpha, k=2.0):
    """N-FGSM (de Jorge et al.): noise U(−kε, kε), one signed step of α, no projection to the ε-ball;
    the perturbed image is clipped to [0, 1]."""
    noise = torch.zeros_like(x).uniform_(-k * eps, k * eps)
    noise.data = _clip(noise, x)
    noise.requires_grad = True
    F.cross_entropy(model(x + noise), y).backward()
    delta = noise.detach() + alpha * torch.sign(noise.grad.detach())
    model.zero_grad(set_to_none=True)
    return _clip(delta, x)


def pgd_delta(model, x, y, eps, alpha, iters, restarts=1, early_stop=True):
    """fast_adversarial / robust_overfitting ``attack_pgd`` (L∞): per restart a uniform start, ``iters``
    signed steps; with ``early_stop`` only the samples the current iterate still classifies correctly move.
    Across restarts the delta with the largest loss is kept (``max_loss`` bookkeeping)."""
    max_loss = torch.zeros(y.shape[0])
    max_delta = torch.zeros_like(x)
    for _ in range(restarts):
        delta = torch.zeros_like(x).uniform_(-eps, eps)
        delta.data = _clip(delta, x)
        delta.requires_grad = True
        for _ in range(iters):
            output = model(x + delta)
            index = torch.where(output.max(1)[1] == y)[0] if early_stop else torch.arange(len(y))
            if len(index) == 0:
                break
            F.cross_entropy(output, y).backward()
            grad = delta.grad.detach()
            d = torch.clamp(delta[index] + alpha * torch.sign(grad[index]), -eps, eps)
            delta.data[index] = _clip(d, x[index])
            delta.grad.zero_()
        with torch.no_grad():
            all_loss = F.cross_entropy(model(x + delta), y, reduction="none")
        pick = all_loss >= max_loss
        max_delta[pick] = delta.detach()[pick]
        max_loss = torch.max(max_loss, all_loss)
    model.zero_grad(set_to_none=True)
    return max_delta


def pgd_accuracy(model, x, y, eps, alpha, iters, restarts=1, early_stop=True):
    """Robust accuracy under ``pgd_delta`` with the model in eval mode."""
    model.eval()
    delta = pgd_delta(model, x, y, eps, alpha, iters, restarts, early_stop)
    with torch.no_grad():
        return (model(x + delta).argmax(1) == y).float().mean().item()


def trades_x_adv(model, x, eps, step, steps):
    """TRADES ``trades_loss``'s inner maximisation: model.eval(), start x + 0.001·N(0, 1), ascend
    KL(p(x) ‖ p(x*)) (sum) with signed steps, project to the ε-ball, clip to [0, 1]."""
    model.eval()
    x_adv = x.detach() + 0.001 * torch.randn_like(x)
    with torch.no_grad():
        p_nat = F.softmax(model(x), dim=1)
    for _ in range(steps):
        x_adv.requires_grad_()
        loss_kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_nat, reduction="sum")
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        x_adv = x_adv.detach() + step * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    return x_adv.detach()


def gradalign_loss(model, x, y, x_adv, eps, lam):
    """GradAlign (Andriushchenko & Flammarion): CE(f(x*), y) + λ·(1 − cos(∇ₓCE(x), ∇ₓCE(x + η))), η ~ U(−ε, ε)
    (not clipped to [0, 1]), the clean gradient detached, the gradient at x + η differentiated through."""
    loss = F.cross_entropy(model(x_adv), y)
    xg = x.clone().requires_grad_(True)
    g1 = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)[0].detach()
    eta = torch.zeros_like(x).uniform_(-eps, eps).requires_grad_(True)
    g2 = torch.autograd.grad(F.cross_entropy(model(x + eta), y), eta, create_graph=True)[0]
    cos = F.cosine_similarity(g1.flatten(1), g2.flatten(1), dim=1)
    return loss + lam * (1.0 - cos).mean()


def fra31_autoattack(model, x, y, eps, norm="Linf", seed=0, bs=250):
    """Robust accuracy under fra31's own AutoAttack (version "standard"), the package the torchattacks
    wheel installs as ``autoattack``. Its FAB imports ``zero_gradients`` from
    ``torch.autograd.gradcheck``, which current torch removed: defined here before importing (test-only shim)."""
    import torch.autograd.gradcheck  # noqa: F401

    gradcheck = sys.modules["torch.autograd.gradcheck"]
    if not hasattr(gradcheck, "zero_gradients"):
        def zero_gradients(t):
            if t.grad is not None:
                t.grad.detach_()
                t.grad.zero_()
        gradcheck.zero_gradients = zero_gradients
    from autoattack import AutoAttack

    model.eval()
    adversary = AutoAttack(model, norm=norm, eps=eps, version="standard", seed=seed, verbose=False, device="cpu")
    x_adv = adversary.run_standard_evaluation(x, y, bs=bs)
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()

