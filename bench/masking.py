"""Which per-epoch validation attack sees gradient masking? A panel of attacks on every epoch of a run.

Trains one run (default: the platform's closest expression of fast_adversarial's MNIST FGSM recipe
before issue 14, the configuration that masked: small CNN with BatchNorm, SGD, train-mode RS-FGSM at
ε = 0.3, α = 0.375) and after every epoch evaluates the model on the first ``--n`` validation images
with each attack of the panel, plus the test reading the references publish (PGD-50×10 at step 0.01 on
the first 1,000 test images) on the last epoch. The panel:

- ``pgd10/4``   PGD-10, step ε/4, 1 restart: the platform's per-epoch validation attack before issue 14
- ``pgd50/.01`` PGD-50, step 0.01 (2.55/255), 1 restart: fast_adversarial's MNIST evaluation without restarts
- ``pgd50x10``  PGD-50×10 restarts, step 0.01: fast_adversarial's MNIST evaluation (on ``--strong-n`` images)
- ``pgd10x10/4`` PGD-10×10, step ε/4 (on ``--strong-n`` images)
- ``apgd-ce``   APGD-CE, 100 iterations (torchattacks, fra31's settings) (on ``--strong-n`` images)
- ``check``     the platform's masking check (APGD-CE 100 then Square 300 on what PGD-10 left robust), on
                ``--strong-n`` images: what ``val/robust_acc`` subtracts from ``val/pgd_acc``

    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/masking.py [--epochs 10] [--train-subset N] [--n 512]
        [--strong-n 128] [--set method.attack_bn_mode=eval ...] [--out bench/out/masking]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainables.attacks import build_attack  # noqa: E402
from trainables.schema.config import MaskingCheck, RunConfig, with_overrides  # noqa: E402
from trainables.evaluation.evaluate import robust_accuracy  # noqa: E402
from trainables.evaluation.validation import masking_check  # noqa: E402

# The platform's expression of fast_adversarial's MNIST recipe before issue 14 (issue 14's table, row 3).
MASKED = {
    "name": "fa-mnist-platform", "data": {"name": "mnist", "val_size": 1000, "test_subset": 1000},
    "model": {"name": "small_cnn", "width": 16},
    "method": {"name": "rs_fgsm", "epsilon": 76.5, "alpha": 95.625, "attack_bn_mode": "train"},
    "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"name": "cyclic"},
    "eval": {"final": False, "val_pgd_steps": 1, "probe_size": 8, "probe_pgd_steps": 1},
    "epochs": 10, "batch_size": 100, "threads": 2,
}


def panel(eps: float) -> dict:
    """name -> (steps, restarts, step size in pixel units, uses the strong subset)."""
    return {"pgd10/4": (10, 1, eps / 4, False), "pgd50/.01": (50, 1, 0.01, False),
            "pgd50x10": (50, 10, 0.01, True), "pgd10x10/4": (10, 10, eps / 4, True)}


def evaluate(model, x, y, xs, ys, eps: float, seed: int) -> dict:
    out = {}
    for name, (steps, restarts, alpha, strong) in panel(eps).items():
        torch.manual_seed(seed)
        atk = build_attack("pgd", eps * 255, alpha * 255, steps=steps, restarts=restarts, bn="eval", early_stop=True)
        out[name] = robust_accuracy(model, [(xs, ys)] if strong else [(x, y)], atk)["adv_acc"]
    torch.manual_seed(seed)
    weak = robust_accuracy(model, [(xs, ys)], build_attack("pgd", eps * 255, steps=10, bn="eval", early_stop=True),
                           keep_first=len(ys))
    out["pgd10/4@strong-n"] = weak["adv_acc"]
    ok = weak["robust_mask"].clone()  # the platform's masking check on what PGD-10 left robust
    if ok.any():
        ok[ok.clone()] = masking_check(model, xs[ok], ys[ok], eps, "linf", MaskingCheck())
    out["check"] = ok.float().mean().item()
    import torchattacks

    model.eval()
    xa = torchattacks.APGD(model, norm="Linf", eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed)(xs, ys)
    with torch.no_grad():
        out["apgd-ce"] = (model(xa).argmax(1) == ys).float().mean().item()
        out["clean"] = (model(x).argmax(1) == y).float().mean().item()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--n", type=int, default=512, help="validation images for the single-restart attacks")
    p.add_argument("--strong-n", type=int, default=128, help="validation images for the restart attacks and APGD")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="dotted override of the run config, e.g. optim.name=adam")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "masking"))
    args = p.parse_args()
    import yaml

    from trainables.training.trainer import Trainer

    cfg = RunConfig.model_validate({**MASKED, "epochs": args.epochs, "seed": args.seed})
    cfg = with_overrides(cfg, {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)})
    if args.train_subset:
        cfg.data.train_subset = args.train_subset
    eps = cfg.eval_epsilon / 255
    t0 = time.perf_counter()
    t = Trainer(cfg)
    x = torch.cat([b[0] for b in t.data.val_batches(args.n)])[: args.n]
    y = torch.cat([b[1] for b in t.data.val_batches(args.n)])[: args.n]
    xs, ys = x[: args.strong_n], y[: args.strong_n]
    rows = []
    print(f"{cfg.name}: {cfg.method.name} ε={cfg.method.epsilon}/255 α={cfg.method.alpha} bn={cfg.resolved().method.attack_bn_mode} "
          f"{cfg.model.name} bn={cfg.model.batchnorm} {cfg.optim.name} lr={cfg.resolved().optim.lr}, {args.epochs} epochs; "
          f"panel on {args.n} / {args.strong_n} val images")
    head = None
    for _ in range(cfg.epochs):
        rec = t.train_epoch()
        model = t.model.eval()
        r = {"epoch": rec.epoch, "train_adv_acc": rec.metrics.get("train/adv_acc"), **evaluate(model, x, y, xs, ys, eps, args.seed)}
        rows.append(r)
        if head is None:
            head = list(r)
            print("  ".join(f"{k:>10}" for k in head))
        print("  ".join(f"{r[k]:10.3f}" if isinstance(r[k], float) else f"{r[k]:>10}" for k in head), flush=True)
    tx = torch.cat([b[0] for b in t.data.test_batches(1000)])[:1000]
    ty = torch.cat([b[1] for b in t.data.test_batches(1000)])[:1000]
    torch.manual_seed(args.seed)
    test = robust_accuracy(t.model.eval(), [(tx, ty)], build_attack("pgd", eps * 255, 2.55, steps=50, restarts=10,
                                                                    bn="eval", early_stop=True))
    print(f"last epoch, first 1,000 test images: clean {test['clean_acc']:.3f}, PGD-50x10 step 0.01 {test['adv_acc']:.3f}; "
          f"{time.perf_counter() - t0:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{cfg.name}-seed{args.seed}.json").write_text(json.dumps(
        {"argv": sys.argv, "config": cfg.model_dump(mode="json"), "epochs": rows, "test_last": test}, indent=1))


if __name__ == "__main__":
    main()
