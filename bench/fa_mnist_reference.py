"""fast_adversarial's MNIST FGSM recipe as an independent loop, for the seed comparison of issue 27.

Written from the recipe's description, not from the platform's code (nothing of ``trainables`` trains here):
MNIST read from its raw idx files (all 60,000 training images, pixels in [0, 1], no augmentation, no
validation split), ``mnist_net`` (two 4x4 stride-2 convolutions with 16 and 32 channels, a 100-unit hidden
layer, no BatchNorm, raw pixels), Adam with no weight decay, the triangle learning rate 0 → 5e-3 at epoch
``epochs * 2 // 5`` → 0 set before every step at epoch + (i + 1)/steps, RS-FGSM ε = 0.3, α = 0.375 from a
uniform start that is not clipped to the image, batch 100, 10 epochs; shuffled every epoch from the global
torch RNG seeded once with ``--seed``. The last epoch's weights are then read by the platform's evaluator, as
the platform reads its own runs (``Trainer.final_eval``): PGD-50 x 10 restarts at step 0.01 on the first
1,000 test images and AutoAttack (standard) on the first 200, so the two distributions compare like for like.

    STUDY_DATA_DIR=/path/to/data .venv/bin/python bench/fa_mnist_reference.py --seed 0 [--out FILE] [--quick]

``--quick``: 1 epoch on the first 2,000 training images, PGD on 200 test images, AutoAttack on 20 (a smoke run,
under a minute). One JSON per run: per-epoch records (train loss and accuracy under the attack, lr, seconds),
the final figures under the platform's metric names (``test/last/...``), wall time and the command.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
FULL = dict(epochs=10, train_n=60000, pgd_n=1000, aa_n=200)
QUICK = dict(epochs=1, train_n=2000, pgd_n=200, aa_n=20)
RECIPE = dict(eps=0.3, alpha=0.375, lr_max=5e-3, batch_size=100)


# ---------------------------------------------------------------- data
def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzipped or not) as a NumPy array: magic (2 zero bytes, dtype code, rank), big-endian sizes."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] or raw[1] or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def load_mnist(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from ``root`` (the torchvision layout ``MNIST/raw/*-idx?-ubyte[.gz]``, or the files in ``root``):
    images float32 in [0, 1], N x 1 x 28 x 28, and int64 labels."""
    prefix = "train" if train else "t10k"
    for folder in (root / "MNIST" / "raw", root / "mnist", root):
        found = {}
        for kind, tag in (("images", "idx3"), ("labels", "idx1")):
            for name in (f"{prefix}-{kind}-{tag}-ubyte.gz", f"{prefix}-{kind}-{tag}-ubyte"):
                if (folder / name).exists():
                    found[kind] = folder / name
                    break
        if len(found) == 2:
            x = torch.from_numpy(read_idx(found["images"]).copy()).float().div_(255).unsqueeze(1)
            y = torch.from_numpy(read_idx(found["labels"]).astype(np.int64))
            return x, y
    raise FileNotFoundError(f"no MNIST {prefix} idx files under {root} (set STUDY_DATA_DIR or --data-dir)")


# ---------------------------------------------------------------- the recipe
def mnist_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10))


def triangle(t: float, epochs: int, lr_max: float) -> float:
    return float(np.interp([t], [0, epochs * 2 // 5, epochs], [0, lr_max, 0])[0])


def rs_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float) -> torch.Tensor:
    """x*: a uniform start in the ε-ball (not clipped to [0, 1]), one signed step of α, back to the ball and the image."""
    delta = torch.empty_like(x).uniform_(-eps, eps).requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x + delta), y), delta)
    delta = torch.clamp(delta.detach() + alpha * grad.sign(), -eps, eps)
    delta = torch.max(torch.min(delta, 1 - x), -x)
    return (x + delta).clamp(0, 1)


def train(x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int, log=print) -> tuple[nn.Module, list[dict]]:
    """The recipe on (x, y); one record per epoch."""
    r = RECIPE
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = mnist_net()
    opt = torch.optim.Adam(model.parameters(), lr=r["lr_max"])
    n, bs = len(y), r["batch_size"]
    steps = (n + bs - 1) // bs
    records = []
    for epoch in range(epochs):
        model.train()
        t0, loss_sum, correct, lr = time.perf_counter(), 0.0, 0, 0.0
        order = torch.randperm(n)
        for i in range(steps):
            idx = order[i * bs:(i + 1) * bs]
            xb, yb = x[idx], y[idx]
            lr = triangle(epoch + (i + 1) / steps, epochs, r["lr_max"])
            for group in opt.param_groups:
                group["lr"] = lr
            x_adv = rs_fgsm(model, xb, yb, r["eps"], r["alpha"])
            out = model(x_adv)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()
        rec = {"epoch": epoch + 1, "lr": lr, "train/loss": loss_sum / n, "train/adv_acc": correct / n,
               "time/train_s": time.perf_counter() - t0}
        records.append(rec)
        log(f"epoch {epoch + 1:2d}  lr {lr:.5f}  loss {rec['train/loss']:.4f}  adv acc {rec['train/adv_acc']:.4f}  "
            f"{rec['time/train_s']:.0f} s")
    return model, records


# ---------------------------------------------------------------- the platform's evaluator
def evaluate(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, seed: int, pgd_n: int, aa_n: int) -> dict:
    """The last epoch under the platform's evaluator, called as ``Trainer.final_eval`` calls it for the recipe:
    clean and PGD-50 x 10 (step 0.01, eval mode, per-sample early stop) on the first ``pgd_n`` test images in
    batches of ``eval.batch_size``, the RNG seeded as there; AutoAttack (standard) on the first ``aa_n``."""
    import contextlib

    from trainables.schema import records as R
    from trainables.attacks.autoattack import autoattack_accuracy
    from trainables.schema.config import RunConfig
    from trainables.evaluation.evaluate import robust_accuracy
    from trainables.training.runtime import derive_seed, seed_all
    from trainables.evaluation.validation import eval_pgd

    import yaml

    cfg = RunConfig.model_validate(yaml.safe_load((REPO / "search_spaces" / "recipes" / "fa_mnist_fgsm.yaml").read_text()))
    cfg = cfg.model_copy(update={"seed": seed})
    model.eval()
    bs = cfg.eval.batch_size
    x, y = x_test[:pgd_n], y_test[:pgd_n]
    batches = [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(y), bs)]
    out = {R.test_key("last", "clean_acc"): robust_accuracy(model, batches)["clean_acc"]}
    for steps, restarts in cfg.eval.test_pgd:
        seed_all(derive_seed(cfg.seed, "test", steps, restarts))
        r = robust_accuracy(model, batches, eval_pgd(cfg, steps, restarts, contextlib.nullcontext, test=True))
        out[R.test_key("last", f"pgd{steps}x{restarts}_acc")] = r["adv_acc"]
    if aa_n:
        out[R.test_key("last", "autoattack_acc")] = autoattack_accuracy(
            model, x_test[:aa_n], y_test[:aa_n], cfg.eval_epsilon / 255, cfg.eval_norm, 10, bs, cfg.seed, "standard")
    return out


def run(seed: int, out: Path, data_dir: Path, quick: bool = False, threads: int = 1, command: str = "",
        log=print, aa_n: int | None = None) -> dict:
    """Train and evaluate one seed, write ``out`` (JSON) and return what it holds; a finished ``out`` is read back.
    ``aa_n``: AutoAttack's test images (None: 200, quick 20; 0: none)."""
    out = Path(out)
    if out.exists():
        return json.loads(out.read_text())
    torch.set_num_threads(threads)
    size = dict(QUICK if quick else FULL)
    if aa_n is not None:
        size["aa_n"] = aa_n
    t0 = time.perf_counter()
    x, y = load_mnist(Path(data_dir), train=True)
    x, y = x[:size["train_n"]], y[:size["train_n"]]
    model, records = train(x, y, seed, size["epochs"], log)
    train_s = time.perf_counter() - t0
    x_test, y_test = load_mnist(Path(data_dir), train=False)
    final = evaluate(model, x_test, y_test, seed, size["pgd_n"], size["aa_n"])
    result = {"kind": "reference", "seed": seed, "quick": quick, "recipe": {**RECIPE, **size}, "records": records,
              "final": final, "train_s": train_s, "wall_s": time.perf_counter() - t0, "threads": threads,
              "command": command or " ".join(sys.argv)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(out)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="1 epoch on 2,000 images, PGD on 200 test images, AutoAttack on 20")
    p.add_argument("--data-dir", default=os.environ.get("STUDY_DATA_DIR", str(REPO.parent / "shared" / "data")))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--aa-n", type=int, default=None, help="test images for AutoAttack (default 200, quick 20; 0: none)")
    p.add_argument("--out", default=None, help="JSON file (default bench/out/fa_mnist_reference/seed<S>[-quick].json)")
    args = p.parse_args()
    out = args.out or REPO / "bench" / "out" / "fa_mnist_reference" / f"seed{args.seed}{'-quick' if args.quick else ''}.json"
    res = run(args.seed, Path(out), Path(args.data_dir), args.quick, args.threads, " ".join(sys.argv), aa_n=args.aa_n)
    print(json.dumps({"final": res["final"], "wall_s": round(res["wall_s"], 1), "out": str(out)}, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
