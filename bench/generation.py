"""Benchmark: which SGLD start gives the best samples from a robust classifier?

Trains a small robust CNN (or loads it from the cache), then generates class-conditional samples
for each init (uniform, class Gaussian, PCA, local PCA) with energy guidance + adaptive stop on
and off, and measures FID/KID against the train split with Inception-v3 (method.md §8). Prints a
table and writes ``results.json`` and per-class grids under ``--out``.

    .venv/bin/python bench/generation.py --n 2000 --reference-n 2000      # the full comparison
    .venv/bin/python bench/generation.py --n 100 --inits pca --guidance on  # one variant, to time it

CPU cost is dominated by Inception-v3 at 299x299 (about 1 s per image on 2 busy cores): budget
(n x variants + reference-n) seconds; the real-image statistics are cached after the first run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
FID_ONLY_WEIGHTS = SHARED / "weights" / "inception-v3-2015-12-05-fid-only.pth"
INITS = ("uniform", "class_gaussian", "pca", "local_pca")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", choices=("fashion_mnist", "cifar10"), default="fashion_mnist")
    p.add_argument("--shared", type=Path, default=SHARED, help="shared/data (read-only source of the data)")
    p.add_argument("--cache", type=Path, default=REPO / "bench" / "out" / "generation-cache",
                   help="data copies, trained models and the fidelity cache")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "generation")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-subset", type=int, default=10000)
    p.add_argument("--method", default="pgd")
    p.add_argument("--epsilon", type=float, default=None, help="1/255 units (default 25.5 = 0.1 on Fashion-MNIST, "
                   "8 on CIFAR-10)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--n", type=int, default=2000, help="samples per variant")
    p.add_argument("--reference-n", type=int, default=2000, help="real train images for the FID reference")
    p.add_argument("--inits", default=",".join(INITS))
    p.add_argument("--guidance", choices=("both", "on", "off"), default="both",
                   help="energy guidance + adaptive stop on, off, or both")
    p.add_argument("--steps", type=int, default=None, help="SGLD steps (default: the config's, 40)")
    p.add_argument("--step-size", type=float, default=None)
    p.add_argument("--momentum", type=float, default=None)
    p.add_argument("--sigma", type=float, default=None, help="PCA init noise scale")
    p.add_argument("--tau", type=float, default=None)
    p.add_argument("--weights", type=Path, default=FID_ONLY_WEIGHTS)
    p.add_argument("--feature-extractor", default="inception-v3-compat")
    p.add_argument("--no-metrics", action="store_true", help="samples and grids only")
    p.add_argument("--no-real-baseline", action="store_true", help="skip the row of n real test images (the "
                   "FID floor at this n: FID is biased upward at small n)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def data_config(args) -> dict:
    """A writable data root for the chosen set (copies / unpacks from shared/data once)."""
    from trainables.data import unpack_zip

    if args.dataset == "fashion_mnist":
        root = args.cache / "data"
        raw = root / "FashionMNIST" / "raw"
        if not raw.is_dir():
            raw.mkdir(parents=True)
            for f in sorted((args.shared / "fashion-mnist" / "FashionMNIST" / "raw").glob("*.gz")):
                shutil.copyfile(f, raw / f.name)
        return {"name": "fashion_mnist", "root": str(root)}
    root = args.cache / "cifar10-jpeg"
    unpack_zip(args.shared / "cifar-10-jpeg" / "cifar10_jpeg_q75.zip", root)
    return {"name": "imagefolder", "root": str(root)}


def run_config(args) -> dict:
    eps = args.epsilon if args.epsilon is not None else (25.5 if args.dataset == "fashion_mnist" else 8.0)
    return {
        "name": f"bench-gen-{args.dataset}",
        "data": {**data_config(args), "train_subset": args.train_subset, "val_size": 500, "test_subset": 1000},
        "model": {"name": "small_cnn", "width": args.width},
        "method": {"name": args.method, "epsilon": eps, "steps": 5},
        "optim": {"lr": 0.05},
        "schedule": {"name": "cyclic"},
        "eval": {"val_pgd_steps": 10, "probe_size": 128, "probe_pgd_steps": 5, "final": False, "autoattack": False},
        "epochs": args.epochs, "batch_size": 128, "seed": args.seed, "threads": args.threads, "device": "cpu",
    }


def trained_model(args):
    """(model, data bundle, last epoch's metrics): trained once per config, then loaded from the cache."""
    from trainables.schema.config import RunConfig
    from trainables.data import build_data
    from trainables.training.fit import CKPT_DIR, fit, read_records
    from trainables.models.saved import BEST_FILE, load_classifier

    raw = run_config(args)
    cfg = RunConfig.model_validate(raw)
    # key on the settings written here (not on the full dump: a new RunConfig field must not retrain)
    keyed = {**raw, "data": {k: v for k, v in raw["data"].items() if k != "root"}}
    key = hashlib.sha1(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:10]
    workdir = args.cache / "models" / key
    ckpt = workdir / CKPT_DIR / BEST_FILE
    t0 = time.perf_counter()
    if not ckpt.is_file() or len(read_records(workdir / "records.jsonl")) < cfg.epochs:
        print(f"training {cfg.model.name} with {cfg.method.name} eps={cfg.method.epsilon}/255 on {cfg.data.name} "
              f"({cfg.data.train_subset} images, {cfg.epochs} epochs) -> {workdir}", flush=True)
        fit(cfg, workdir, callbacks=[lambda r: print(
            f"  epoch {r.epoch}: val clean {r.metrics.get('val/clean_acc', float('nan')):.3f} "
            f"val pgd {r.metrics.get('val/pgd_acc', float('nan')):.3f} ({r.metrics.get('time/epoch_s', 0):.1f} s)",
            flush=True)])
        print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        print(f"model from cache {ckpt}", flush=True)
    records = read_records(workdir / "records.jsonl")
    data = build_data(cfg.data, cfg.batch_size, "cpu", cfg.seed)
    model, _ = load_classifier(ckpt, data)
    return model, data, (records[-1].metrics if records else {})


def variants(args):
    guidance = {"both": (True, False), "on": (True,), "off": (False,)}[args.guidance]
    for init in [s.strip() for s in args.inits.split(",") if s.strip()]:
        for g in guidance:
            yield init, g


def gen_config(args, init: str, guided: bool):
    from trainables.generation import GenerationConfig

    cfg = GenerationConfig()
    over = {"init.name": init, "sampler.guidance": guided, "sampler.adaptive_stop": guided, "n": args.n,
            "seed": args.seed, "device": "cpu", "threads": args.threads,
            "metrics.fid": not args.no_metrics, "metrics.kid": not args.no_metrics, "metrics.isc": not args.no_metrics,
            "metrics.reference_n": args.reference_n, "metrics.feature_extractor": args.feature_extractor,
            "metrics.weights_path": str(args.weights) if args.weights else None, "metrics.batch_size": 50}
    for flag, path in ((args.steps, "sampler.steps"), (args.step_size, "sampler.step_size"),
                       (args.momentum, "sampler.momentum"), (args.sigma, "init.sigma"), (args.tau, "sampler.tau")):
        if flag is not None:
            over[path] = flag
    from trainables.generation import with_overrides

    return with_overrides(cfg, over)


def real_baseline(args, data) -> dict:
    """n real test images scored like the samples: what a perfect generator would get at this n."""
    from trainables.generation import compute_metrics
    from trainables.generation.metrics import reference_subset

    import torch

    mcfg = gen_config(args, "pca", True).metrics
    real, name = data.test_images[: args.n], "real-test (floor)"
    if len(real) < args.n:  # the test subset is smaller: train images outside the reference subset instead
        perm = torch.randperm(len(data.train_images), generator=torch.Generator().manual_seed(mcfg.reference_seed))
        real, name = data.train_images[perm[mcfg.reference_n:][: args.n].sort().values], "real-train-heldout (floor)"
    t0 = time.perf_counter()
    m = compute_metrics(real, reference_subset(data.train_images, mcfg.reference_n, mcfg.reference_seed), mcfg,
                        dataset=data.name, cuda=False, seed=args.seed)
    dt = time.perf_counter() - t0
    print(f"[{name}] fid {fmt(m.get('fid'))} kid {fmt(m.get('kid_mean'), '.4f')} metrics {dt:.1f} s", flush=True)
    return {"variant": name, "init": None, "guided": None, "n": len(real),
            "n_reference": m.get("n_reference"), "fid": m.get("fid"), "kid_mean": m.get("kid_mean"),
            "kid_std": m.get("kid_std"), "mean_steps": 0.0, "frozen": 0.0, "sgld_s": 0.0, "metrics_s": dt,
            "total_s": dt, "notes": m.get("notes", [])}


def fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv=None) -> int:
    import os

    args = parse_args(argv)
    os.environ.setdefault("STUDY_CACHE_DIR", str(args.cache))  # the fidelity cache lives there too
    import torch

    torch.set_num_threads(args.threads)
    from trainables.generation import generate

    t_all = time.perf_counter()
    model, data, last = trained_model(args)
    print(f"classifier: val clean {last.get('val/clean_acc', float('nan')):.3f}, "
          f"val PGD-10 {last.get('val/pgd_acc', float('nan')):.3f}", flush=True)
    rows = []
    if not (args.no_metrics or args.no_real_baseline):
        rows.append(real_baseline(args, data))
    for init, guided in variants(args):
        name = f"{init}-{'guided' if guided else 'plain'}"
        cfg = gen_config(args, init, guided)
        print(f"[{name}] n={cfg.n} steps={cfg.sampler.steps} ...", flush=True)
        r = generate(model, data, cfg, args.out / name)
        s = r.summary()
        row = {"variant": name, "init": init, "guided": guided, "n": cfg.n,
               "n_reference": r.metrics.get("n_reference"), "fid": r.metrics.get("fid"),
               "kid_mean": r.metrics.get("kid_mean"), "kid_std": r.metrics.get("kid_std"),
               "mean_steps": s["sgld"]["mean_steps"], "frozen": s["sgld"]["frozen_fraction"],
               "sgld_s": r.timing["sgld_s"] + r.timing["init_s"], "metrics_s": r.timing["metrics_s"],
               "total_s": r.timing["total_s"], "notes": r.metrics.get("notes", [])}
        rows.append(row)
        print(f"[{name}] fid {fmt(row['fid'])} kid {fmt(row['kid_mean'], '.4f')} steps {row['mean_steps']:.1f} "
              f"frozen {row['frozen']:.2f} sample {row['sgld_s']:.1f} s metrics {row['metrics_s']:.1f} s", flush=True)
    head = f"{'variant':<28} {'n':>5} {'ref':>5} {'FID':>8} {'KID':>8} {'±':>7} {'steps':>6} {'frozen':>6} " \
           f"{'sample s':>8} {'metric s':>8}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['variant']:<28} {r['n']:>5} {fmt(r['n_reference'], 'd'):>5} {fmt(r['fid']):>8} "
              f"{fmt(r['kid_mean'], '.4f'):>8} {fmt(r['kid_std'], '.4f'):>7} {r['mean_steps']:>6.1f} "
              f"{r['frozen']:>6.2f} {r['sgld_s']:>8.1f} {r['metrics_s']:>8.1f}")
    result = {"dataset": args.dataset, "classifier": {k: last.get(k) for k in ("val/clean_acc", "val/pgd_acc")},
              "weights": str(args.weights), "feature_extractor": args.feature_extractor, "rows": rows,
              "wall_s": time.perf_counter() - t_all}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    print(f"results: {args.out / 'results.json'}; grids under {args.out}/<variant>/", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
