"""Every attack and evaluator of the platform against an independent reference, in one table.

Trains a small, somewhat robust MNIST CNN (RS-FGSM AT at ε = 0.1, the conformance tests' fixture), then
at a training-size radius and at twice it compares, on the same images and (where the reference draws
the same random numbers) the same seed:

- the training attacks (FGSM, RS-FGSM, N-FGSM, PGD-AT, TRADES-KL) with their default BatchNorm mode against
  tests/conformance/references.py: max |x*_ours − x*_ref| and the accuracy each x* leaves (tolerance 1e-6);
- PGD as an evaluator against fast_adversarial-style ``attack_pgd`` (PGD-10×1: equal; PGD-50×10 at
  step 0.01: never weaker) and against torchattacks' PGD (never weaker);
- AutoAttack (standard) against fra31's own package (|Δ| ≤ 2 % of the images, at least 2 images), with
  torchattacks' own ``AutoAttack(version="standard")`` (10 iterations) printed for comparison.

    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/conformance.py [--n 256] [--aa-n 128] [--out bench/out/conformance]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "conformance")]

import references as ref  # noqa: E402
from testlib import tiny_run  # noqa: E402

from trainables.attacks import build_attack  # noqa: E402
from trainables.attacks.autoattack import autoattack_accuracy  # noqa: E402
from trainables.schema.config import DERConfig, MethodConfig, RunConfig  # noqa: E402
from trainables.evaluation.evaluate import robust_accuracy  # noqa: E402
from trainables.methods import build_method  # noqa: E402

TRAIN_EPS = 0.1


def train_model(n_val: int):
    from trainables.training.trainer import Trainer

    cfg = RunConfig.model_validate(tiny_run(
        None, epochs=3, method__name="rs_fgsm", method__epsilon=TRAIN_EPS * 255, model__width=16,
        data__train_subset=4096, data__val_size=n_val, optim__lr=0.1, schedule__name="cyclic",
        eval__final=False, eval__val_pgd_steps=1, eval__probe_size=8, eval__probe_pgd_steps=1, threads=2,
        deterministic=True))
    cfg.data.root = None
    t = Trainer(cfg)
    for _ in range(cfg.epochs):
        t.train_epoch()
    model = t.model.eval()
    x = torch.cat([b[0] for b in t.data.val_batches(n_val)])
    y = torch.cat([b[1] for b in t.data.val_batches(n_val)])
    return model, x, y


def _acc(model, x_adv, y) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()


def training_attack_rows(model, x, y, eps):
    e255 = eps * 255
    cases = [
        ("FGSM (train mode)", dict(name="fgsm", epsilon=e255), lambda m: x + ref.fgsm_train_delta(m, x, y, eps, eps), True),
        ("RS-FGSM α=1.25ε (train mode)", dict(name="rs_fgsm", epsilon=e255),
         lambda m: x + ref.fgsm_train_delta(m, x, y, eps, 1.25 * eps, init="random"), True),
        ("N-FGSM k=2 (train mode)", dict(name="n_fgsm", epsilon=e255), lambda m: x + ref.nfgsm_train_delta(m, x, y, eps, eps),
         True),
        ("PGD-AT 10 steps (train mode)", dict(name="pgd", epsilon=e255),
         lambda m: x + ref.pgd_delta(m, x, y, eps, eps / 4, 10, 1, early_stop=False), True),
        ("TRADES-KL 10 steps (eval mode)", dict(name="trades", epsilon=e255),
         lambda m: ref.trades_x_adv(m, x, eps, eps / 4, 10), False),
    ]
    rows = []
    for label, method, reference, train_mode in cases:
        m1, m2 = copy.deepcopy(model), copy.deepcopy(model)
        meth = build_method(MethodConfig(**method), DERConfig())
        m1.train()
        torch.manual_seed(0)
        mine = meth.attack(m1, x, y).x_adv
        m2.train(train_mode)
        torch.manual_seed(0)
        theirs = reference(m2)
        diff = (mine - theirs).abs().max().item()
        a, b = _acc(model, mine, y), _acc(model, theirs, y)
        rows.append(dict(row=label, eps=eps, ours=a, reference=b, detail=f"max|Δx*| {diff:.1e}",
                         tolerance="|Δx*| ≤ 1e-6", ok=diff <= 1e-6))
    return rows


def evaluator_rows(model, x, y, eps, aa_n, step50):
    import torchattacks

    rows = []

    def ours(steps, restarts, alpha):
        atk = build_attack("pgd", eps * 255, alpha * 255, steps=steps, restarts=restarts, bn="eval", early_stop=True)
        return robust_accuracy(model, [(x, y)], atk)["adv_acc"]

    torch.manual_seed(1)
    a = ours(10, 1, eps / 4)
    torch.manual_seed(1)
    b = ref.pgd_accuracy(model, x, y, eps, eps / 4, 10, 1)
    rows.append(dict(row="PGD-10×1 evaluator vs attack_pgd", eps=eps, ours=a, reference=b, detail="same starts",
                     tolerance="equal", ok=a == b))
    torch.manual_seed(2)
    a = ours(50, 10, step50)
    torch.manual_seed(2)
    b = ref.pgd_accuracy(model, x, y, eps, step50, 50, 10)
    rows.append(dict(row=f"PGD-50×10 step {step50:g} vs attack_pgd", eps=eps, ours=a, reference=b,
                     detail="same starts", tolerance="ours ≤ ref", ok=a <= b))
    torch.manual_seed(3)
    a = ours(10, 1, eps / 4)
    torch.manual_seed(3)
    b = _acc(model, torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10)(x, y), y)
    rows.append(dict(row="PGD-10 evaluator vs torchattacks.PGD", eps=eps, ours=a, reference=b, detail="same starts",
                     tolerance="ours ≤ ref", ok=a <= b))
    xa, ya = x[:aa_n], y[:aa_n]
    t0 = time.perf_counter()
    a = autoattack_accuracy(model, xa, ya, eps, "linf", 10, 256, seed=0)
    ta = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = ref.fra31_autoattack(model, xa, ya, eps, seed=0)
    tb = time.perf_counter() - t0
    tol = max(2, round(0.02 * aa_n))
    rows.append(dict(row="AutoAttack standard vs fra31", eps=eps, ours=a, reference=b,
                     detail=f"n={aa_n}, {ta:.0f} s vs {tb:.0f} s", tolerance=f"|Δ| ≤ {tol} images",
                     ok=abs(a - b) * aa_n <= tol + 1e-9))
    t0 = time.perf_counter()
    c = _acc(model, torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)(xa, ya),
             ya)
    rows.append(dict(row="(torchattacks AutoAttack, 10 it) vs fra31", eps=eps, ours=c, reference=b,
                     detail=f"n={aa_n}, {time.perf_counter() - t0:.0f} s", tolerance="for comparison", ok=None))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=256, help="validation images for the PGD and training-attack rows")
    p.add_argument("--aa-n", type=int, default=128, help="images for the AutoAttack rows")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "conformance"))
    args = p.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    model, x, y = train_model(args.n)
    for q in model.parameters():
        q.requires_grad_(False)
    rows = []
    for eps in (TRAIN_EPS, 2 * TRAIN_EPS):
        rows += training_attack_rows(model, x, y, eps)
        rows += evaluator_rows(model, x, y, eps, args.aa_n, step50=0.01)
    print(f"{'row':44} {'ε':>5} {'ours':>7} {'ref':>7}  {'tolerance':16} {'ok':4} detail")
    for r in rows:
        ok = "-" if r["ok"] is None else ("yes" if r["ok"] else "NO")
        print(f"{r['row']:44} {r['eps']:5.2f} {r['ours']:7.4f} {r['reference']:7.4f}  {r['tolerance']:16} {ok:4} {r['detail']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=1))
    print(f"\n{sum(r['ok'] is True for r in rows)}/{sum(r['ok'] is not None for r in rows)} rows within tolerance; "
          f"{time.perf_counter() - t0:.0f} s; {out / 'results.json'}")
    if any(r["ok"] is False for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
