"""A small, somewhat robust MNIST model shared by the conformance tests (trained once per session)."""
from __future__ import annotations

import pytest
import torch

from testlib import tiny_run

EPS = 0.1  # the training radius of the fixture model (25.5/255); tests use it and twice it


@pytest.fixture(scope="session")
def robust_mnist(data_root):
    """(model in eval mode, x, y): small CNN (width 16) after 3 epochs of RS-FGSM AT at ε = 0.1 on 4,096
    MNIST images, and the first 256 validation images. Clean accuracy ≈ 0.88, PGD-10 ≈ 0.74 at ε = 0.1 and
    ≈ 0.25 at ε = 0.2: between 0 and clean, the regime where attack strength shows."""
    from trainables.schema.config import RunConfig
    from trainables.training.trainer import Trainer

    cfg = RunConfig.model_validate(tiny_run(
        data_root, epochs=3, method__name="rs_fgsm", method__epsilon=EPS * 255, model__width=16,
        data__train_subset=4096, data__val_size=256, optim__lr=0.1, schedule__name="cyclic",
        eval__final=False, eval__val_pgd_steps=1, eval__probe_size=8, eval__probe_pgd_steps=1, threads=1,
        deterministic=True))
    t = Trainer(cfg)
    for _ in range(cfg.epochs):
        t.train_epoch()
    model = t.model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.cat([b[0] for b in t.data.val_batches(256)])
    y = torch.cat([b[1] for b in t.data.val_batches(256)])
    return model, x, y
