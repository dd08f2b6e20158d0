"""The reference: an adversarial-training epoch written the way the 2020 codebases did it.

fast_adversarial / robust_overfitting style: fp32, NCHW, a CPU ``DataLoader`` with per-sample
torchvision transforms (pinned memory on CUDA, as their ``get_loaders``), the attack's ``loss.backward()``
filling parameter gradients too (then zeroed), and ``.item()`` host syncs every step for logging. TRADES
is the official ``trades_loss`` (yaodongyu/TRADES): eval-mode KL ascent that recomputes p(x) at every
step, then CE + β·KL in train mode. Kept deliberately plain: it is the yardstick ``bench/throughput.py``
and ``bench/device_check.py`` measure the platform's step against.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class _Images(Dataset):
    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor, augment: bool) -> None:
        import torchvision.transforms as T

        self.x, self.y = x_uint8, y
        ops = [T.RandomCrop(x_uint8.shape[-1], padding=4), T.RandomHorizontalFlip()] if augment else []
        self.tf = T.Compose(ops)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.tf(self.x[i].float() / 255), self.y[i]


def trades_loss(model, x, y, eps: float, alpha: float, steps: int, beta: float):
    """TRADES's ``trades_loss`` as the official code writes it; returns (loss, clean logits)."""
    kl = torch.nn.KLDivLoss(reduction="sum")
    model.eval()
    x_adv = x.detach() + 0.001 * torch.randn_like(x)
    for _ in range(steps):
        x_adv.requires_grad_()
        loss_kl = kl(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1))
        grad = torch.autograd.grad(loss_kl, [x_adv])[0]
        x_adv = x_adv.detach() + alpha * torch.sign(grad.detach())
        x_adv = torch.clamp(torch.min(torch.max(x_adv, x - eps), x + eps), 0.0, 1.0)
    model.train()
    logits = model(x)
    robust = kl(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1)) / len(y)
    return F.cross_entropy(logits, y) + beta * robust, logits


def reference_epoch(model, x_uint8, y, method: str, eps: float, alpha: float, steps: int, batch_size: int,
                    device: str, augment: bool, num_workers: int, lr: float = 0.01, beta: float = 6.0) -> dict:
    """One epoch of FGSM/RS-FGSM/N-FGSM/PGD-k AT or TRADES (β ``beta``); returns seconds and images."""
    loader = DataLoader(_Images(x_uint8, y, augment), batch_size=batch_size, shuffle=True, num_workers=num_workers,
                        pin_memory=device.startswith("cuda"))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    model.train()
    n, t0 = 0, time.perf_counter()
    train_loss = train_acc = 0.0
    for X, Y in loader:
        X, Y = X.to(device), Y.to(device)
        if method == "trades":
            loss, output = trades_loss(model, X, Y, eps, alpha, steps, beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            train_loss += loss.item() * Y.size(0)
            train_acc += (output.max(1)[1] == Y).sum().item()
            n += Y.size(0)
            continue
        delta = torch.zeros_like(X)
        if method in ("rs_fgsm", "pgd"):
            delta.uniform_(-eps, eps)
        elif method == "n_fgsm":
            delta.uniform_(-2 * eps, 2 * eps)
        delta.data = torch.max(torch.min(delta, 1 - X), -X)
        delta.requires_grad = True
        for _ in range(steps):
            loss = F.cross_entropy(model(X + delta), Y)
            loss.backward()
            grad = delta.grad.detach()
            delta.data = delta + alpha * torch.sign(grad)
            if method != "n_fgsm":
                delta.data = torch.clamp(delta, -eps, eps)
            delta.data = torch.max(torch.min(delta, 1 - X), -X)
            delta.grad.zero_()
        delta = delta.detach()
        output = model(X + delta)
        loss = F.cross_entropy(output, Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_loss += loss.item() * Y.size(0)
        train_acc += (output.max(1)[1] == Y).sum().item()
        n += Y.size(0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - t0, "images": n, "loss": train_loss / n, "acc": train_acc / n}
