"""Catastrophic overfitting at CPU scale, and what DER and ΔE do about it.

Runs FGSM (zero init), RS-FGSM at two step sizes (1.25ε and 2ε) and N-FGSM, each without DER and
with DER λ ∈ {0.1, 1, 10}, over several seeds, on MNIST (ε = 56/255 by default, near the CO
threshold of the small CNN) and on a CIFAR-10 subset from the JPEG copy. Prints one line per
epoch (val PGD accuracy, probe PGD accuracy, ΔE statistics), a summary table, and writes every
trace to JSON (superseded by ``bench/co_corpus.py`` and ``bench/co_judge.py``).

    STUDY_DATA_DIR=../shared/data python bench/co_study.py            # the default grid, ~20 min on 2 cores
    python bench/co_study.py --datasets mnist --seeds 1 --lambdas 0   # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.judge.calibrate import collapse_epoch  # noqa: E402
from trainables.schema import records as R  # noqa: E402

# (label, method, α as a multiple of ε)
SETTINGS = [("FGSM", "fgsm", 1.0), ("RS-FGSM 1.25e", "rs_fgsm", 1.25), ("RS-FGSM 2e", "rs_fgsm", 2.0),
            ("N-FGSM", "n_fgsm", 1.0)]


def prepare_data(args) -> dict[str, dict]:
    """Writable data roots: MNIST copied into the cache, CIFAR-10 unpacked from the JPEG zip."""
    from trainables.data import cache_dir, unpack_zip

    shared = Path(args.data_dir)
    roots = {}
    if "mnist" in args.datasets:
        root = cache_dir() / "bench-data"
        if not (root / "MNIST" / "raw").exists():
            shutil.copytree(shared / "MNIST" / "raw", root / "MNIST" / "raw")
            for p in (root / "MNIST" / "raw").iterdir():
                p.chmod(0o644)
        roots["mnist"] = {"name": "mnist", "root": str(root), "eps": args.mnist_eps}
    if "cifar10" in args.datasets:
        dest = cache_dir() / "cifar10-jpeg"
        unpack_zip(shared / "cifar-10-jpeg" / "cifar10_jpeg_q75.zip", dest)
        roots["cifar10"] = {"name": "imagefolder", "root": str(dest), "eps": args.cifar_eps}
    return roots


def run_config(ds: dict, method: str, alpha_mult: float, lam: float, seed: int, args) -> dict:
    eps = ds["eps"]
    return {
        "name": f"co-{ds['name']}-{method}-{alpha_mult}-{lam}-{seed}",
        "data": {"name": ds["name"], "root": ds["root"], "train_subset": args.train_subset, "val_size": args.val_size,
                 "test_subset": 256},
        "model": {"name": "small_cnn", "width": args.width},
        "method": {"name": method, "epsilon": eps, "alpha": round(alpha_mult * eps, 4)},
        "der": {"weight": lam},
        "optim": {"lr": args.lr},
        "schedule": {"name": "cyclic"},
        "eval": {"final": False, "val_pgd_steps": 10, "probe_size": 128, "probe_pgd_steps": 10},
        "epochs": args.epochs, "batch_size": 128, "seed": seed, "threads": 1,
    }


def train_one(job: dict) -> dict:
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit

    t0 = time.perf_counter()
    res = fit(RunConfig.model_validate(job["config"]))
    return {**job, "records": [r.flat() for r in res.records], "wall_s": time.perf_counter() - t0}


def describe(rec: dict) -> str:
    g = rec.get
    return (f"ep {rec['epoch']}: val pgd {g(R.VAL_PGD_ACC):.3f} clean {g(R.VAL_CLEAN_ACC):.3f} "
            f"probe {g(R.PROBE_PGD_ACC):.3f} train-adv {g(R.TRAIN_ADV_ACC):.3f} "
            f"dE mean {g(R.TRAIN_DELTA_MEAN):+.3f} [p5 {g('energy/train/delta_p5'):+.2f}, "
            f"p95 {g('energy/train/delta_p95'):+.2f}] val dE {g(R.VAL_DELTA_MEAN):+.3f}")


def summarize(results: list[dict], args) -> list[dict]:
    rows = []
    keys = sorted({(r["dataset"], r["label"], r["lam"]) for r in results},
                  key=lambda k: (k[0], [s[0] for s in SETTINGS].index(k[1]), k[2]))
    for ds, label, lam in keys:
        runs = [r for r in results if (r["dataset"], r["label"], r["lam"]) == (ds, label, lam)]
        co, de_before, de_at, peak, last = 0, [], [], [], []
        for r in runs:
            pgd = [x[R.VAL_PGD_ACC] for x in r["records"]]
            c = collapse_epoch(pgd, args.robust, args.floor, args.within)
            peak.append(max(pgd))
            last.append(pgd[-1])
            if c is not None:
                co += 1
                de = [x[R.TRAIN_DELTA_MEAN] for x in r["records"]]
                de_at.append(de[c - 1])
                de_before.append(de[c - 2] if c >= 2 else float("nan"))
        mean = lambda xs: statistics.mean(xs) if xs else float("nan")  # noqa: E731
        rows.append({"dataset": ds, "setting": label, "lambda": lam, "runs": len(runs), "classic_co": co,
                     "peak_pgd": mean(peak), "last_pgd": mean(last), "dE_before_collapse": mean(de_before),
                     "dE_at_collapse": mean(de_at)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="mnist,cifar10", type=lambda s: s.split(","))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--lambdas", default="0,0.1,1,10", type=lambda s: [float(x) for x in s.split(",")])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--train-subset", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=256)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--mnist-eps", type=float, default=56.0, help="1/255 units (56 ≈ 0.22)")
    ap.add_argument("--cifar-eps", type=float, default=8.0)
    ap.add_argument("--robust", type=float, default=0.2, help="PGD accuracy that counts as robust")
    ap.add_argument("--floor", type=float, default=0.1, help="PGD accuracy below which it has collapsed")
    ap.add_argument("--within", type=int, default=2, help="epochs from robust to collapsed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data-dir", default=os.environ.get("STUDY_DATA_DIR", str(Path(__file__).parents[2] / "shared" / "data")))
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "co_study.json"))
    args = ap.parse_args(argv)

    roots = prepare_data(args)
    jobs = [{"dataset": ds, "label": label, "method": m, "alpha_mult": a, "lam": lam, "seed": s,
             "config": run_config(roots[ds], m, a, lam, s, args)}
            for ds in args.datasets for (label, m, a) in SETTINGS for lam in args.lambdas for s in range(args.seeds)]
    print(f"{len(jobs)} runs x {args.epochs} epochs on {args.workers} worker(s)", flush=True)
    t0 = time.perf_counter()
    results = []
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for r in pool.map(train_one, jobs):
            results.append(r)
            print(f"\n{r['dataset']} {r['label']} (eps {r['config']['method']['epsilon']}/255, "
                  f"alpha {r['config']['method']['alpha']}/255) lambda={r['lam']} seed={r['seed']}  "
                  f"[{r['wall_s']:.0f} s]", flush=True)
            for rec in r["records"]:
                print("  " + describe(rec), flush=True)
    rows = summarize(results, args)
    print(f"\nclassic CO = val PGD >= {args.robust} then < {args.floor} within {args.within} epochs\n")
    hdr = f"{'dataset':8} {'setting':14} {'lambda':>6} {'CO':>5} {'peak pgd':>8} {'last pgd':>8} {'dE before':>9} {'dE at CO':>8}"
    print(hdr)
    for w in rows:
        print(f"{w['dataset']:8} {w['setting']:14} {w['lambda']:>6g} {w['classic_co']:>2}/{w['runs']:<2} "
              f"{w['peak_pgd']:>8.3f} {w['last_pgd']:>8.3f} {w['dE_before_collapse']:>9.3f} {w['dE_at_collapse']:>8.3f}")
    wall = time.perf_counter() - t0
    print(f"\ntotal wall time {wall:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "wall_s": wall, "summary": rows, "runs": results}, indent=1))
    print(f"traces written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
