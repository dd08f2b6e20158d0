"""A corpus of catastrophic-overfitting traces at CPU cost, at sub-epoch resolution, for replaying stopping rules.

Single-step adversarial training (FGSM from zero, RS-FGSM at large α, N-FGSM) on small CNNs, over ε, α and
seeds, in settings where CO is seed dependent. Every run reports every ``--report-every`` steps
(``eval.report_every``: the window's ΔE statistics and a CO probe reading) and once per epoch (validation
PGD-10 with the masking check: ``val/robust_acc``, what the collapse label reads). Each run's records go to
their own JSON file under ``--out`` with the command that made them, so the corpus can be extended, resumed
(finished runs are skipped) and replayed by ``bench/co_judge.py`` without retraining. The collapse
label is ``study.judge.calibrate.collapse_epoch`` (one definition).

    STUDY_DATA_DIR=../shared/data python bench/co_corpus.py --attack-bn-mode eval --settings ...   # the corpus with
        # 41 collapses: the three commands in bench/README.md (FGSM collapses on MNIST with the attack's BatchNorm
        # in eval mode; in train mode, the default grid below, it rarely does)
    STUDY_DATA_DIR=../shared/data python bench/co_corpus.py                  # the default MNIST grid, ~30 min
    python bench/co_corpus.py --grid fashion --out bench/out/co_corpus_fashion   # the Fashion-MNIST attempt
    python bench/co_corpus.py --quick                                        # smoke run, ~1 min
    python bench/co_corpus.py --table bench/out/co_pilot*                    # the table of saved runs, no training
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.judge.calibrate import LABEL, collapse_of  # noqa: E402
from trainables.schema import records as R  # noqa: E402

# grid name -> (dataset, model width, [(label, method, ε in 1/255, α as a multiple of ε)])
GRIDS = {
    "mnist": ("mnist", 16, [
        *(("FGSM", "fgsm", e, 1.0) for e in (40, 48, 56, 64, 72)),
        *(("FGSM 1.25a", "fgsm", e, 1.25) for e in (40, 48, 56)),
        *(("RS-FGSM", "rs_fgsm", e, a) for e in (48, 64) for a in (2.0, 2.5)),
        *(("N-FGSM", "n_fgsm", e, 1.0) for e in (64, 80)),
    ]),
    "fashion": ("fashion_mnist", 16, [
        *(("FGSM", "fgsm", e, 1.0) for e in (16, 24, 32, 40)),
        *(("RS-FGSM", "rs_fgsm", e, 2.0) for e in (24, 32)),
    ]),
    "cifar10": ("cifar10", 32, [("FGSM", "fgsm", 8, 1.0), ("RS-FGSM", "rs_fgsm", 8, 2.0)]),
    # issue 25's search table: a product grid a study could search (method × ε × DER λ, each method at its
    # default α), every run scored at one radius (--eval-epsilon 56)
    "answer": ("mnist", 16, [(f"{label}", method, e, mult, der)
                             for label, method, mult in (("FGSM", "fgsm", 1.0), ("RS-FGSM", "rs_fgsm", 1.25),
                                                         ("N-FGSM", "n_fgsm", 1.0))
                             for e in (48, 56, 64) for der in (0.0, 0.1, 1.0)]),
}


def data_source(dataset: str, data_dir: Path) -> dict:
    """The data config of a dataset: the torchvision sets straight from the (read-only) data dir; CIFAR-10 as
    the imagefolder unpacked from the JPEG zip into the cache (once)."""
    if dataset != "cifar10":
        return {"name": dataset, "root": str(data_dir)}
    from trainables.data import cache_dir, unpack_zip

    dest = cache_dir() / "cifar10-jpeg"
    unpack_zip(data_dir / "cifar-10-jpeg" / "cifar10_jpeg_q75.zip", dest)
    return {"name": "imagefolder", "root": str(dest)}


def run_config(source: dict, width: int, method: str, eps: float, mult: float, seed: int, args,
               der: float = 0.0) -> dict:
    """One corpus run: the small CNN below, or with ``--recipe`` that recipe's model, optimizer, schedule and
    batch size, with the corpus's data subset, attack, DER weight, evaluation and epochs."""
    cfg = _small_cnn(source, width, method, eps, mult, seed, args, der)
    if args.recipe:
        from study.cli.commands.train import load_run_config

        base = load_run_config(args.recipe).model_dump(mode="json", exclude={"reference"})
        cfg = {**base, **{k: cfg[k] for k in ("name", "data", "der", "epochs", "seed", "threads")},
               "method": {**base["method"], **cfg["method"]}, "eval": {**base["eval"], **cfg["eval"]}}
        cfg["name"] = f"{Path(args.recipe).stem}-" + cfg["name"]
        if args.lr is not None:
            cfg["optim"] = {**cfg["optim"], "lr": args.lr}
    if args.attack_bn_mode:
        cfg["method"]["attack_bn_mode"] = args.attack_bn_mode
        cfg["name"] = cfg["name"].replace(f"-{cfg['method']['name']}-", f"-{cfg['method']['name']}-bn{args.attack_bn_mode}-", 1)
    if args.schedule:
        cfg["schedule"] = {"name": args.schedule}
    if args.warmup_fraction is not None:
        cfg["schedule"] = {**cfg["schedule"], "warmup_fraction": args.warmup_fraction}
    if args.eval_epsilon is not None:
        cfg["eval"]["epsilon"] = args.eval_epsilon
    if args.split_seed_from_seed:  # the ± over seeds then includes the data sample (train / validation split)
        cfg["data"]["split_seed"] = seed
    cfg["name"] = _tagged(cfg["name"], args)
    return cfg


def _tagged(name: str, args) -> str:
    """The run name with the schedule / learning-rate overrides in it, so overridden runs never share a file."""
    tag = (f"-{args.schedule}" if args.schedule else "") + (f"-lr{args.lr:g}" if args.lr is not None else "") \
        + (f"-wf{args.warmup_fraction:g}" if args.warmup_fraction is not None else "") \
        + (f"-ev{args.eval_epsilon:g}" if args.eval_epsilon is not None else "") \
        + ("-ss" if args.split_seed_from_seed else "")
    if not tag:
        return name
    stem, seed = name.rsplit("-s", 1)
    return f"{stem}{tag}-s{seed}"


def _small_cnn(source: dict, width: int, method: str, eps: float, mult: float, seed: int, args, der: float) -> dict:
    return {
        "name": f"{source['name']}-{method}-e{eps:g}-a{mult:g}" + (f"-der{der:g}" if der else "") + f"-s{seed}",
        "data": {**source, "train_subset": args.train_subset, "val_size": args.val_size, "test_subset": args.test_subset},
        "model": {"name": "small_cnn", "width": width},
        "method": {"name": method, "epsilon": eps, "alpha": round(mult * eps, 4)},
        "der": {"weight": der},
        "optim": {"lr": 0.1 if args.lr is None else args.lr},
        "schedule": {"name": "cyclic"},
        "eval": {"final": False, "val_pgd_steps": 10, "probe_size": args.probe_size, "probe_pgd_steps": 10,
                 "report_every": args.report_every,
                 "masking": {"n": args.masking_n, "apgd_steps": args.apgd_steps, "square_queries": args.square}},
        "epochs": args.epochs, "batch_size": 128, "seed": seed, "threads": 1,
    }


def train_one(job: dict) -> dict:
    """Train one run and write its trace file; a finished file is read back instead of retrained."""
    path = Path(job["path"])
    if path.exists():
        return json.loads(path.read_text())
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit
    from trainables.training.trainer import Trainer

    t0 = time.perf_counter()
    cfg = RunConfig.model_validate(job["config"])
    trainer = Trainer(cfg)
    callbacks = []
    if job.get("epoch_test_pgd"):
        from bench.epoch_test import epoch_test_callback

        callbacks.append(epoch_test_callback(trainer, steps=job["epoch_test_pgd"], n=job.get("epoch_test_n")))
    res = fit(cfg, job.get("workdir"), callbacks=callbacks, trainer=trainer)
    out = {**{k: v for k, v in job.items() if k != "path"}, "records": [r.flat() for r in res.records],
           "wall_s": time.perf_counter() - t0}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    return out


def jobs(args) -> list[dict]:
    data_dir = Path(args.data_dir)
    out = []
    for grid in args.grid:
        dataset, width, settings = GRIDS[grid]
        if args.settings:
            settings = [parse_setting(x) for x in args.settings]
        if args.quick:
            settings = settings[:2]
        source = data_source(dataset, data_dir)
        for label, method, eps, mult, *der in settings:
            der = der[0] if der else 0.0
            for seed in range(args.seeds):
                cfg = run_config(source, width, method, eps, mult, seed, args, der)
                out.append({"grid": grid, "dataset": dataset, "label": label, "method": method, "eps": eps,
                            "alpha_mult": mult, "der": der, "seed": seed, "config": cfg, "command": args.command,
                            "path": str(Path(args.out) / f"{cfg['name']}.json"),
                            "epoch_test_pgd": args.epoch_test_pgd, "epoch_test_n": args.epoch_test_n,
                            "workdir": str(Path(args.out) / "runs" / cfg["name"]) if args.keep_checkpoints else None})
    return out


def parse_setting(text: str) -> tuple:
    """``method:eps:alpha_multiple[:der_weight]`` -> (label, method, ε, α/ε, DER λ)."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise SystemExit(f"--settings entry {text!r}: write method:eps:alpha_multiple[:der_weight], e.g. fgsm:56:1:0.5")
    m, e, a, *d = parts
    der = float(d[0]) if d else 0.0
    return (f"{m} {a}a" + (f" DER {der:g}" if der else ""), m, float(e), float(a), der)


def epoch_records(run: dict) -> list[dict]:
    return [r for r in run["records"] if not r.get(R.PARTIAL)]


def setting_of(run: dict) -> str:
    """The run's folder and name without its seed: one setting, overrides (recipe, attack BN mode, schedule) and
    the folder's data size and epochs included."""
    return f"{run.get('folder', '')}/{run['config']['name'].rsplit('-s', 1)[0]}".lstrip("/")


def summarize(runs: list[dict], by_name: bool = False) -> list[dict]:
    rows: dict[tuple, dict] = {}
    for r in runs:
        ep = epoch_records(r)
        key = (r["dataset"], setting_of(r) if by_name else r["label"], r["eps"], r["alpha_mult"], r.get("der", 0.0))
        row = rows.setdefault(key, {"dataset": key[0], "setting": key[1], "eps": key[2], "alpha_mult": key[3],
                                    "der": key[4], "method": r["method"], "runs": 0, "collapsed": 0, "peak": [],
                                    "last": [], "wall": 0.0})
        row["runs"] += 1
        row["collapsed"] += collapse_of(ep) is not None
        row["peak"].append(max(x[LABEL] for x in ep))
        row["last"].append(ep[-1][LABEL])
        row["wall"] += r["wall_s"]
    return list(rows.values())


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate k / n (sound at k = 0 and at small n)."""
    if not n:
        return float("nan"), float("nan")
    p, d = k / n, 1 + z * z / n
    c, h = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def markdown_table(rows: list[dict]) -> str:
    """The corpus as bench/README.md's markdown table (bench/replay.py compares the two)."""
    lines = ["| method (α) | ε | DER λ | seeds | classic CO | 95 % Wilson | mean peak / last `val/robust_acc` |",
             "|---|---|---|---|---|---|---|"]
    for w in sorted(rows, key=lambda w: (w["method"], w["eps"], w["der"])):
        lo, hi = wilson(w["collapsed"], w["runs"])
        lines.append(f"| {w['method']} ({w['alpha_mult']:g}ε) | {w['eps']:g} | {w['der']:g} | {w['runs']} | "
                     f"{w['collapsed']} | {lo:.2f}–{hi:.2f} | {sum(w['peak']) / len(w['peak']):.2f} / "
                     f"{sum(w['last']) / len(w['last']):.2f} |")
    n, co = sum(w["runs"] for w in rows), sum(w["collapsed"] for w in rows)
    lines += ["", f"{n} runs, {co} classic collapses."]
    return "\n".join(lines)


def der_markdown(rows: list[dict]) -> str:
    """The corpus pooled over ε, per method and DER λ: collapses, their Wilson interval, and Fisher's exact test
    against λ = 0 of the same method (the figures behind "DER at λ ≤ 1 did not lower the rate of CO")."""
    from bench.two_sample import fisher_exact_p

    pooled: dict = {}
    for w in rows:
        c = pooled.setdefault((w["method"], w["alpha_mult"], w["der"]), [0, 0])
        c[0], c[1] = c[0] + w["collapsed"], c[1] + w["runs"]
    lines = ["| method (α) | DER λ | runs (ε × seeds) | classic CO | 95 % Wilson | Fisher's exact p vs λ = 0 |",
             "|---|---|---|---|---|---|"]
    for (method, am, der), (k, n) in sorted(pooled.items()):
        lo, hi = wilson(k, n)
        k0, n0 = pooled.get((method, am, 0.0), (0, 0))
        p_value = "–" if der == 0 or not n0 else f"{fisher_exact_p(k0, n0, k, n):.2f}"
        lines.append(f"| {method} ({am:g}ε) | {der:g} | {n} | {k} | {lo:.2f}–{hi:.2f} | {p_value} |")
    return "\n".join(lines)


def bn_mode_markdown(runs: list[dict]) -> str:
    """The paired BatchNorm-mode corpus (the same settings and seeds, the training attack's BatchNorm in train vs
    eval mode) as a markdown table with Fisher's exact test per ε and pooled (bench/replay.py)."""
    from bench.two_sample import fisher_exact_p

    def mode(r):
        return r["config"]["method"].get("attack_bn_mode") or "train"

    counts: dict = {}
    for r in runs:
        c = counts.setdefault((r["eps"], mode(r)), [0, 0])
        c[0] += collapse_of(epoch_records(r)) is not None
        c[1] += 1
    lines = ["| ε | train mode (the references'): classic CO / runs | eval mode | Fisher's exact p (two-sided) |",
             "|---|---|---|---|"]
    for eps in sorted({e for e, _ in counts}):
        (kt, nt), (ke, ne) = counts[(eps, "train")], counts[(eps, "eval")]
        lines.append(f"| {eps:g} | {kt}/{nt} | {ke}/{ne} | {fisher_exact_p(kt, nt, ke, ne):.3f} |")
    kt = sum(c[0] for (e, m), c in counts.items() if m == "train")
    nt = sum(c[1] for (e, m), c in counts.items() if m == "train")
    ke = sum(c[0] for (e, m), c in counts.items() if m == "eval")
    ne = sum(c[1] for (e, m), c in counts.items() if m == "eval")
    lines.append(f"| both | {kt}/{nt} | {ke}/{ne} | {fisher_exact_p(kt, nt, ke, ne):.3f} |")
    return "\n".join(lines)


def print_table(rows: list[dict], width: int = 20) -> None:
    print(f"\n{'dataset':14} {'setting':{width}} {'eps':>4} {'a/eps':>5} {'CO':>5} {'95% CI':>11} {'peak':>5} {'last':>5}  "
          f"per-seed peak -> last {LABEL}")
    for w in rows:
        seeds = " ".join(f"{p:.2f}->{l:.2f}" for p, l in zip(w["peak"], w["last"]))
        lo, hi = wilson(w["collapsed"], w["runs"])
        print(f"{w['dataset']:14} {w['setting']:{width}} {w['eps']:>4g} {w['alpha_mult']:>5g} "
              f"{w['collapsed']:>2}/{w['runs']:<2} {lo:5.2f}-{hi:4.2f} {sum(w['peak']) / len(w['peak']):5.2f} "
              f"{sum(w['last']) / len(w['last']):5.2f}  {seeds}")
    n, co = sum(w["runs"] for w in rows), sum(w["collapsed"] for w in rows)
    print(f"\n{n} runs, {co} classic collapses ({LABEL}: ≥ 0.2, then < 0.1 within 2 epochs)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", default="mnist", type=lambda s: s.split(","), help=f"of {', '.join(GRIDS)}")
    ap.add_argument("--settings", default=None, type=lambda s: s.split(","),
                    help="replace the grid's settings: method:eps:alpha_multiple[:der_weight],... (e.g. fgsm:56:1,fgsm:56:1:1)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--train-subset", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=256)
    ap.add_argument("--probe-size", type=int, default=128)
    ap.add_argument("--report-every", type=int, default=8, help="steps per window report")
    ap.add_argument("--masking-n", type=int, default=128)
    ap.add_argument("--apgd-steps", type=int, default=100)
    ap.add_argument("--square", type=int, default=300)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default 0.1; with --recipe: the recipe's)")
    ap.add_argument("--attack-bn-mode", choices=["train", "eval"], default=None,
                    help="BatchNorm mode of the training attack instead of the method's reference mode "
                         "(method.attack_bn_mode; eval: as TRADES's reference runs its attack)")
    ap.add_argument("--warmup-fraction", type=float, default=None,
                    help="the cyclic schedule's peak as a fraction of training (fast_adversarial MNIST: 0.4)")
    ap.add_argument("--schedule", default=None, help="learning-rate schedule instead of cyclic / the recipe's (e.g. constant)")
    ap.add_argument("--eval-epsilon", type=float, default=None,
                    help="the radius every run is scored at (eval.epsilon; default: each run's training ε)")
    ap.add_argument("--split-seed-from-seed", action="store_true",
                    help="data.split_seed = seed: each seed draws its own training subset and validation split")
    ap.add_argument("--epoch-test-pgd", type=int, default=0,
                    help="after every epoch, clean and PGD-k accuracy of that epoch's weights on the test subset "
                         "(test/epoch/..., bench/epoch_test.py): what a search replay reads as the answer's test figure")
    ap.add_argument("--epoch-test-n", type=int, default=None, help="test images of that reading (default: test_subset)")
    ap.add_argument("--test-subset", type=int, default=256)
    ap.add_argument("--keep-checkpoints", action="store_true",
                    help="train each run in OUT/runs/NAME (state.pt and best.pt of its last epoch kept)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--recipe", default=None, help="a run config (e.g. search_spaces/recipes/fa_mnist_fgsm.yaml) whose "
                    "model, optimizer, schedule and batch size the runs take")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 settings, 1 seed, 2 epochs, 1,024 images")
    ap.add_argument("--data-dir", default=os.environ.get("STUDY_DATA_DIR", str(Path(__file__).parents[2] / "shared" / "data")))
    ap.add_argument("--out", default=None, help="folder of the run files (default bench/out/co_corpus[_quick])")
    ap.add_argument("--table", nargs="+", default=None, metavar="FOLDER",
                    help="print the table of the runs saved in these folders, one row per run name without its seed "
                         "(pilots with overrides included), and exit: no training")
    args = ap.parse_args(argv)
    if args.table:
        runs = [{**json.loads(p.read_text()), "folder": Path(f).name} for f in args.table
                for p in sorted(Path(f).glob("*.json")) if p.name != "index.json"]
        rows = summarize(runs, by_name=True)
        print_table(rows, width=max(len(w["setting"]) for w in rows))
        return 0
    args.command = "python bench/co_corpus.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.seeds, args.epochs, args.train_subset, args.masking_n = 1, 2, 1024, 32
    args.out = args.out or str(Path(__file__).parent / "out" / ("co_corpus_quick" if args.quick else "co_corpus"))

    todo = jobs(args)
    print(f"{len(todo)} runs x {args.epochs} epochs, a report every {args.report_every} steps, on {args.workers} "
          f"worker(s); load average {os.getloadavg()[0]:.1f}; traces in {args.out}", flush=True)
    t0 = time.perf_counter()
    runs = []
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for r in pool.map(train_one, todo):
            runs.append(r)
            ep = epoch_records(r)
            c = collapse_of(ep)
            print(f"{r['config']['name']:34} [{r['wall_s']:4.0f} s] {LABEL} "
                  f"{' '.join(f'{x[LABEL]:.2f}' for x in ep)}" + (f"  CO at epoch {c}" if c else ""), flush=True)
    rows = summarize(runs)
    print_table(rows)
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.0f} s (runs read back from earlier files cost nothing); load average "
          f"{os.getloadavg()[0]:.1f}")
    index = Path(args.out) / "index.json"
    index.write_text(json.dumps({"command": args.command, "args": {k: v for k, v in vars(args).items()},
                                 "wall_s": wall, "runs": sorted(Path(j["path"]).name for j in todo),
                                 "summary": rows}, indent=1))
    print(f"index written to {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
