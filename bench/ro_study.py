"""Robust overfitting (RO) at CPU scale, and what ΔE and DER do around it (issue 16).

PGD-AT with robust_overfitting's piecewise schedule (lr ×0.1 at 50 % and 75 % of training), TRADES,
and PGD-AT + DER over a λ grid (plus the joint-energy term and the energy weights once each), on
small training sets of the CIFAR-10 JPEG copy and of Fashion-MNIST, ≥ 3 seeds per cell. Every epoch
records train-mode ΔE (training batches, the training attack), eval-mode ΔE on the validation split
and on the fixed probe batch, train robust accuracy, and validation clean / PGD-10 / masking-checked
robust accuracy. Then, for the baseline and the best DER cell, test clean / PGD-50×10 / AutoAttack
(fra31's standard) on the best (validation-selected) and the last checkpoints. The tables are
printed by ``bench/ro_analysis.py`` (also alone, on saved traces: ``--replay``).

    STUDY_DATA_DIR=../shared/data python bench/ro_study.py            # the full grid (bench/README.md)
    STUDY_DATA_DIR=../shared/data python bench/ro_study.py --quick    # smoke run, ~2 min
    python bench/ro_study.py --replay bench/out/ro_study/ro_study.json  # tables from saved traces
    python bench/ro_study.py --pilot                                   # the width/epochs pilot
    python bench/ro_study.py --pilot --datasets fmnist --pilot-runs fmnist:1000:64:64:0.1:40   # your own pilot

Issue 28's grid ("RO at reviewer strength", ``bench/ro_reviewer.py``): ``--split-per-seed`` (each seed its own
training subset and validation split), ``--wds`` (PGD-AT + weight-decay cells), ``--no-extras`` (no joint /
energy-weight cells), ``--test-all`` (every run tested right after its training, per-image bits kept).
Runs go seed by seed (every cell of seed 0, then of seed 1, ...), so a stopped grid leaves whole seeds.
``--wd-pick-seeds 1`` runs the weight-decay cells on seed 0 only and then, for seeds 1 on, the one whose training
robust accuracy is nearest ``--match-cell``'s. The per-epoch masking check is pinned (``--masking-*``), so a change
of the platform's default does not change how a grid's later runs pick their best epoch.

Runs live in ``bench/out/ro_study/runs/<run>/`` (records.jsonl, checkpoints: a rerun resumes and
skips finished runs); the traces and tables in ``bench/out/ro_study/<name>.json``. bench/out is lost with the
machine: ``--restore bench/results/ro_reviewer.json.gz`` gives a new machine the finished runs of the committed
traces back (records and per-image test readings; no checkpoints), so the same command goes on from there.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ro_analysis as A  # noqa: E402  (bench/ is this script's folder)
import ro_reviewer as RV  # noqa: E402

OUT = Path(__file__).parent / "out" / "ro_study"
# dataset key -> (registered name, ε in 1/255 units): robust_overfitting's 8/255 on CIFAR-10, the usual 0.1 on Fashion-MNIST
DATASETS = {"cifar10": ("imagefolder", 8.0), "fmnist": ("fashion_mnist", 25.5)}


def cells(lams: list[float], extra_lam: float, wds: list[float] = (), extras: bool = True) -> dict[str, dict]:
    """Cell label -> (method, DER settings, optimiser overrides): the baseline, TRADES, DER over the λ grid, joint
    term and energy weights once each (at ``extra_lam``; not with ``extras`` off), PGD-AT at each weight decay."""
    out = {"PGD-AT": {"method": "pgd", "der": {}}, "TRADES": {"method": "trades", "der": {}}}
    for lam in lams:
        out[f"DER {lam:g}"] = {"method": "pgd", "der": {"weight": lam}}
    if extras:
        out[f"DER {extra_lam:g} +joint"] = {"method": "pgd", "der": {"weight": extra_lam, "joint_weight": extra_lam}}
        out[f"DER {extra_lam:g} ew"] = {"method": "pgd", "der": {"weight": extra_lam, "energy_weights": True}}
    for wd in wds:
        out[f"PGD-AT wd {wd:g}"] = {"method": "pgd", "der": {}, "optim": {"weight_decay": wd}}
    return out


def prepare_data(args) -> dict[str, str]:
    """Writable roots in the cache: the CIFAR-10 JPEG zip unpacked, the Fashion-MNIST gz files copied."""
    from trainables.data import cache_dir, unpack_zip

    shared, roots = Path(args.data_dir), {}
    if "cifar10" in args.datasets:
        dest = cache_dir() / "cifar10-jpeg"
        unpack_zip(shared / "cifar-10-jpeg" / "cifar10_jpeg_q75.zip", dest)
        roots["cifar10"] = str(dest)
    if "fmnist" in args.datasets:
        root = cache_dir() / "bench-data"
        raw = root / "FashionMNIST" / "raw"
        if not raw.exists():
            shutil.copytree(shared / "fashion-mnist" / "FashionMNIST" / "raw", raw)
            for p in raw.iterdir():
                p.chmod(0o644)
        roots["fmnist"] = str(root)
    return roots


def run_config(ds: str, root: str, label: str, cell: dict, seed: int, args) -> dict:
    """One run: small CNN, SGD 0.1 (momentum 0.9, wd 5e-4 unless the cell sets it), piecewise ×0.1 at 50 %/75 %,
    PGD-10 α = ε/4 (or TRADES β = 6 with its eval-mode KL attack), evaluation at the training ε. With
    ``--split-per-seed`` the split seed is the run's seed: validation split and training subset (the first
    ``train_subset`` images of the shuffled rest, trainables/data/split.py) change with it; test does not."""
    name, eps = DATASETS[ds]
    eps = args.epsilon or eps
    slug = label.lower().replace(" ", "-").replace("+", "")
    # every setting of the check pinned, so runs trained before and after a change of the platform's default
    # (issue 26: APGD-T top 3, binomial flag) select their best epoch by the same rule within one grid
    masking = {"n": args.masking_n, "apgd_steps": args.masking_apgd, "square_queries": args.masking_square,
               "apgd_targets": args.masking_apgd_targets, "flag": args.masking_flag}
    return {
        "name": f"ro-{ds}-{slug}" + (f"-e{eps:g}" if args.epsilon else "") + f"-s{seed}",
        "data": {"name": name, "root": root, "train_subset": args.train_subset, "val_size": args.val_size,
                 "test_subset": args.test_subset, "split_seed": seed if args.split_per_seed else 0},
        "model": {"name": "small_cnn", "width": args.width},
        "method": {"name": cell["method"], "epsilon": eps, "alpha": eps / 4, "steps": args.train_steps},
        "der": cell["der"],
        "optim": {"name": "sgd", "lr": args.lr, **cell.get("optim", {})},
        "schedule": {"name": "piecewise", "milestones": [0.5, 0.75], "gamma": 0.1},
        "eval": {"epsilon": eps, "final": False, "val_pgd_steps": 10, "probe_size": 256, "probe_pgd_steps": 10,
                 "masking": masking, "test_pgd": [[50, 10]], "autoattack": True, "autoattack_n": args.aa_n},
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": seed, "threads": 1,
    }


def train_one(job: dict) -> dict:
    """Train (or resume, or skip when finished) one run in its own folder; return its records."""
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit, read_records, RECORDS_FILE

    cfg = RunConfig.model_validate(job["config"])
    wd = Path(job["workdir"])
    t0 = time.perf_counter()
    done = read_records(wd / RECORDS_FILE)
    if len(done) < cfg.epochs:
        done = fit(cfg, wd).records
    return {**job, "records": [r.flat() for r in done], "wall_s": time.perf_counter() - t0}


def train_test_one(job: dict) -> dict:
    """``--test-all``: train (or resume) a run, then test it per image (bench/ro_reviewer.py)."""
    return RV.test_one(train_one(job))


def final_one(job: dict) -> dict:
    """Test clean / PGD-50×10 / AutoAttack on a finished run's best and last checkpoints."""
    from trainables.schema.config import RunConfig
    from trainables.training.fit import CKPT_DIR
    from trainables.training.trainer import Trainer

    cfg = RunConfig.model_validate(job["config"])
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"final": True})})
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    trainer.load(Path(job["workdir"]) / CKPT_DIR, resume=False)  # weights for a test reading, no training
    return {**job, "final": trainer.final_eval(), "final_wall_s": time.perf_counter() - t0}


def pool_map(fn, jobs: list[dict], workers: int, on_result) -> list[dict]:
    out = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for r in pool.map(fn, jobs):
            on_result(r)
            out.append(r)
    return out


def print_run(r: dict) -> None:
    print(f"\n{r['dataset']} {r['cell']} seed {r['seed']}  [{r['wall_s']:.0f} s]", flush=True)
    for rec in r["records"]:
        print("  " + A.describe(rec), flush=True)


def build_jobs(args, roots: dict[str, str]) -> list[dict]:
    """Seed-major: every cell of seed 0, then of seed 1, ... (a stopped grid leaves whole seeds)."""
    grid = cells(args.lambdas, args.extra_lambda, args.wds, not args.no_extras)
    chosen = {k: v for k, v in grid.items() if not args.cells or k in args.cells}
    jobs = []
    for ds in args.datasets:
        names = chosen if ds == args.datasets[0] else {k: v for k, v in chosen.items() if k in args.second_cells}
        for seed in range(args.seeds):
            for label, cell in names.items():
                cfg = run_config(ds, roots[ds], label, cell, seed, args)
                jobs.append({"dataset": ds, "cell": label, "seed": seed, "config": cfg,
                             "workdir": str(Path(args.out_dir) / "runs" / f"{args.name}-{cfg['name']}")})
    return jobs


def later_jobs(args, jobs: list[dict], results: list[dict]) -> list[dict]:
    """``--wd-pick-seeds N``: the runs of seeds ≥ N, of the weight-decay cells only the one matched to
    ``--match-cell`` on seeds < N (bench/ro_reviewer.matched_wd; training accuracies, no test figure)."""
    if args.wd_pick_seeds is None:
        return []
    pick = {ds: RV.matched_wd(results, ds, args.match_cell) for ds in args.datasets}
    for ds, cell in pick.items():
        if cell is None:
            raise SystemExit(f"{ds}: no weight decay could be matched to {args.match_cell} on seeds < "
                             f"{args.wd_pick_seeds} (is {args.match_cell} among the cells, and did its runs finish?)")
        print(f"{ds}: weight decay for seeds ≥ {args.wd_pick_seeds}: {cell}", flush=True)
    return [j for j in jobs if j["seed"] >= args.wd_pick_seeds
            and (not j["cell"].startswith("PGD-AT wd") or j["cell"] == pick[j["dataset"]])]


def final_jobs(args, results: list[dict], table: list[dict]) -> list[dict]:
    """The baseline and the best DER cell (by mean best validation robust accuracy) of each dataset."""
    picks = []
    for ds in args.datasets:
        der = [row for row in table if row["dataset"] == ds and row["cell"].startswith("DER")]
        best_der = max(der, key=lambda row: row["best_robust_mean"])["cell"] if der else None
        picks += [(ds, c) for c in ("PGD-AT", best_der) if c]
    return [r for r in results if (r["dataset"], r["cell"]) in picks]


def analyse(args, results: list[dict], finals: list[dict]) -> dict:
    table = A.cell_table(results)
    A.print_cell_table(table)
    energy = A.energy_rows(results)
    A.print_energy_table(energy, {"PGD-AT", "TRADES"})
    A.print_energy_table([w for w in energy if w["stat"] in A.HEADLINE], None)
    for ds in dict.fromkeys(r["dataset"] for r in results):
        for cell in ("PGD-AT", "TRADES"):
            A.print_trace(results, ds, cell)
    ftable = A.final_table(finals) if finals else []
    if ftable:
        A.print_final_table(ftable)
    RV.print_headline(results, finals, args.match_cell)
    return {"cells": table, "energy": energy, "final": ftable}


PILOT = [  # (dataset, train images, width, batch size, lr, epochs): PGD-AT, one seed each
    ("fmnist", 2000, 16, 64, 0.1, 40), ("cifar10", 2000, 16, 64, 0.1, 40), ("cifar10", 2000, 32, 64, 0.05, 40),
    ("cifar10", 4000, 16, 64, 0.1, 40)]


def parse_pilot_run(text: str) -> tuple:
    """``dataset:images:width:batch:lr:epochs`` -> a PILOT entry."""
    parts = text.split(":")
    if len(parts) != 6 or parts[0] not in DATASETS:
        raise SystemExit(f"--pilot-runs entry {text!r}: write dataset:images:width:batch:lr:epochs with dataset one of "
                         f"{', '.join(DATASETS)}, e.g. fmnist:1000:64:64:0.1:40")
    ds, n, w, bs, lr, e = parts
    return ds, int(n), int(w), int(bs), float(lr), int(e)


def pilot(args, roots) -> list[dict]:
    jobs = []
    for ds, n, w, bs, lr, e in args.pilot_runs or PILOT:
        if ds not in args.datasets:
            continue
        a = argparse.Namespace(**{**vars(args), "train_subset": n, "width": w, "batch_size": bs, "lr": lr, "epochs": e})
        label = f"n{n} w{w} bs{bs} lr{lr:g} e{e}"
        cfg = run_config(ds, roots[ds], f"pilot {label}", {"method": "pgd", "der": {}}, 0, a)
        jobs.append({"dataset": ds, "cell": f"PGD-AT {label}", "seed": 0, "config": cfg,
                     "workdir": str(Path(args.out_dir) / "runs" / f"pilot-{cfg['name']}")})
    return jobs


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="cifar10,fmnist", type=lambda s: s.split(","),
                    help="the first gets every cell, the others --second-cells")
    ap.add_argument("--second-cells", default="PGD-AT,TRADES,DER 1", type=lambda s: s.split(","))
    ap.add_argument("--cells", default="", type=lambda s: [c for c in s.split(",") if c], help="subset of cells")
    ap.add_argument("--lambdas", default="0.1,1,10", type=lambda s: [float(x) for x in s.split(",")])
    ap.add_argument("--extra-lambda", type=float, default=1.0, help="λ of the joint-term and energy-weight cells")
    ap.add_argument("--epsilon", type=float, default=None, help="training and evaluation ε in 1/255 (default: "
                    + ", ".join(f"{k} {v[1]:g}" for k, v in DATASETS.items()) + ")")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--train-subset", type=int, default=2000)
    ap.add_argument("--val-size", type=int, default=1000)
    ap.add_argument("--test-subset", type=int, default=1000)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--masking-n", type=int, default=128)
    ap.add_argument("--masking-apgd", type=int, default=50)
    ap.add_argument("--masking-square", type=int, default=100)
    ap.add_argument("--masking-apgd-targets", type=int, default=0, help="targeted APGD classes in the per-epoch "
                    "check (0: the check the grids of issues 16 and 28 were trained with)")
    ap.add_argument("--masking-flag", default="gap", help="the per-epoch check's flag rule (gap, gap_bound)")
    ap.add_argument("--aa-n", type=int, default=500, help="test images for AutoAttack (PGD-50×10: all of --test-subset)")
    ap.add_argument("--no-final", action="store_true", help="skip the test evaluation")
    ap.add_argument("--test-all", action="store_true", help="test every run right after its training, keeping "
                    "per-image correctness (else: PGD-AT and the best DER cell after all training)")
    ap.add_argument("--split-per-seed", action="store_true", help="split_seed = seed: the validation split and "
                    "the training subset change with the seed")
    ap.add_argument("--wds", default="", type=lambda s: [float(x) for x in s.split(",") if x],
                    help="weight decays of 'PGD-AT wd X' cells (the default is 5e-4)")
    ap.add_argument("--no-extras", action="store_true", help="leave out the +joint and energy-weight cells")
    ap.add_argument("--match-cell", default="DER 10", help="the DER cell whose training robust accuracy the "
                    "weight-decay baseline is matched to")
    ap.add_argument("--wd-pick-seeds", type=int, default=None, help="run the 'PGD-AT wd' cells on the first N "
                    "seeds only; later seeds run just the one matched to --match-cell on those seeds (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny subsets, 1 seed, 4 epochs")
    ap.add_argument("--pilot", action="store_true", help="PGD-AT at a few widths/sizes, one seed (PILOT)")
    ap.add_argument("--pilot-runs", default=None, type=lambda s: [parse_pilot_run(x) for x in s.split(",")],
                    help="the pilot's runs instead of PILOT: dataset:images:width:batch:lr:epochs,...")
    ap.add_argument("--replay", default=None, help="print the tables of a saved JSON (or .json.gz) and exit")
    ap.add_argument("--restore", default=None, help="before running, give every run of a saved --test-all JSON (or "
                    "the committed .json.gz) its folder back (records and per-image test readings, no checkpoint), "
                    "so a grid moved to a new machine skips the runs it already finished")
    ap.add_argument("--name", default=None, help="output name (default: ro_study, ro_quick, ro_pilot)")
    ap.add_argument("--data-dir", default=os.environ.get("STUDY_DATA_DIR", str(Path(__file__).parents[2] / "shared" / "data")))
    ap.add_argument("--out-dir", default=str(OUT))
    ap.add_argument("--pack", default=None, help="gzip a grid's saved JSON (this path) into bench/results/NAME.json.gz "
                    "with the command that made it and the commit it is packed at, and exit")
    return ap


def parse(argv):
    ap = parser()
    args = ap.parse_args(argv)
    if args.wd_pick_seeds is not None and (args.wd_pick_seeds < 1 or not args.test_all or not args.wds):
        ap.error("--wd-pick-seeds N needs N >= 1, --test-all and --wds (the weight-decay cells to pick from)")
    if args.quick:
        args.__dict__.update(seeds=1, epochs=4, train_subset=256, val_size=128, test_subset=64, width=8, masking_n=16,
                             masking_apgd=5, masking_square=10, aa_n=16, lambdas=[1.0], second_cells=["PGD-AT"])
    args.name = args.name or ("ro_quick" if args.quick else "ro_pilot" if args.pilot else "ro_study")
    return args


def print_final(r: dict) -> None:
    print(f"final {r['dataset']} {r['cell']} seed {r['seed']}: {r['final']} [{r['final_wall_s']:.0f} s]", flush=True)


def save(out: Path, args, wall, train_wall, tables, results: list[dict], finals: list[dict]) -> None:
    """Write the traces (atomically: --replay may read the file of a grid still running)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"args": vars(args), "wall_s": wall, "train_wall_s": train_wall, "tables": tables,
                               "runs": results, "finals": finals}, indent=1, default=str))
    tmp.replace(out)


def read_saved(path: str | Path) -> dict:
    """A grid's saved JSON: the file it rewrites after every run, or its gzip copy under bench/results/."""
    import gzip

    p = Path(path)
    return json.loads(gzip.open(p, "rt").read() if p.suffix == ".gz" else p.read_text())


def restore(saved: dict, out_dir: Path) -> int:
    """Write each finished --test-all run's records.jsonl and per-image file into its folder under ``out_dir``."""
    from trainables.training.fit import RECORDS_FILE

    records = {Path(r["workdir"]).name: r["records"] for r in saved["runs"]}
    n = 0
    for f in saved.get("finals", []):
        name = Path(f["workdir"]).name
        if "per_image" not in f or name not in records:
            continue
        wd = out_dir / "runs" / name
        if (wd / RV.PER_IMAGE_FILE).exists():
            continue
        wd.mkdir(parents=True, exist_ok=True)
        (wd / RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records[name]))
        (wd / RV.PER_IMAGE_FILE).write_text(json.dumps({"eval": f["config"]["eval"], "data": f["config"]["data"],
                                                         "final": f["final"], "per_image": f["per_image"],
                                                         "wall_s": f["final_wall_s"]}))
        n += 1
    return n


def command_of(saved_args: dict) -> str:
    """The command line that gives ``saved_args`` (every option that differs from its default)."""
    parts = []
    for action in parser()._actions:
        if not action.option_strings or action.dest not in saved_args or action.dest in ("restore", "pack", "help"):
            continue
        default = action.default
        if isinstance(default, str) and action.type is not None:
            default = action.type(default)
        value = saved_args[action.dest]
        if action.dest == "data_dir" or value == default or value is None:
            continue
        flag = action.option_strings[0]
        if isinstance(value, bool):
            parts.append(flag)
        else:
            shown = ",".join(repr(v) if isinstance(v, float) else str(v) for v in value) if isinstance(value, list) \
                else repr(value) if isinstance(value, float) else str(value)
            parts.append(f"{flag} {shown}")
    return "STUDY_DATA_DIR=../shared/data .venv/bin/python bench/ro_study.py " + " ".join(parts)


def pack(src: str) -> Path:
    """bench/results/NAME.json.gz from a grid's saved JSON, with its command and the commit it is packed at."""
    import gzip

    from bench.traces import commit

    saved = read_saved(src)
    saved = {**saved, "command": command_of(saved["args"]), "commit": commit(),
             "commit_note": "the commit the traces were packed at; a grid that ran over several sessions trained its "
                            "runs under the commits before it, each run's config is in its record"}
    out = Path(__file__).parent / "results" / f"{saved['args']['name']}.json.gz"
    with gzip.open(out, "wt", compresslevel=9) as f:
        json.dump(saved, f, default=str)
    return out


def main(argv=None) -> int:
    args = parse(argv)
    if args.pack:
        out = pack(args.pack)
        print(f"{out}: {read_saved(out)['command']}")
        return 0
    if args.replay:
        saved = read_saved(args.replay)
        analyse(args, saved["runs"], saved.get("finals", []))
        return 0
    print(f"load average at start: {os.getloadavg()}", flush=True)
    if args.restore:
        print(f"{restore(read_saved(args.restore), Path(args.out_dir))} finished run(s) restored from {args.restore}",
              flush=True)
    roots = prepare_data(args)
    jobs = pilot(args, roots) if args.pilot else build_jobs(args, roots)
    print(f"{len(jobs)} runs on {args.workers} worker(s)", flush=True)
    out = Path(args.out_dir) / f"{args.name}.json"
    t0, train_wall, results, finals = time.perf_counter(), None, [], []
    if args.test_all and not (args.no_final or args.pilot):
        for j in jobs if args.quick else []:
            j["config"]["eval"]["test_pgd"] = [[5, 2]]

        def done(r):  # print, and rewrite the JSON after every run (--replay: the tables of a stopped grid)
            print_run(r)
            print_final(r)
            results.append({k: v for k, v in r.items() if k not in ("final", "per_image", "final_wall_s")})
            finals.append({k: v for k, v in r.items() if k != "records"})
            save(out, args, time.perf_counter() - t0, None, None, results, finals)

        first = [j for j in jobs if args.wd_pick_seeds is None or j["seed"] < args.wd_pick_seeds]
        pool_map(train_test_one, first, args.workers, done)
        rest = later_jobs(args, jobs, results)
        if rest:
            print(f"{len(rest)} runs of seeds ≥ {args.wd_pick_seeds} (weight decay picked on the earlier seeds)",
                  flush=True)
            pool_map(train_test_one, rest, args.workers, done)
    else:
        results = pool_map(train_one, jobs, args.workers, print_run)
        train_wall = time.perf_counter() - t0
        if not (args.no_final or args.pilot):
            picks = final_jobs(args, results, A.cell_table(results))
            if args.quick:
                for j in picks:
                    j["config"]["eval"]["test_pgd"] = [[5, 2]]
            finals = pool_map(final_one, picks, args.workers, print_final)
    wall = time.perf_counter() - t0
    tables = analyse(args, results, finals)
    print(f"\ntraining wall {train_wall or wall:.0f} s, total wall {wall:.0f} s; "
          f"load average at end: {os.getloadavg()}")
    save(out, args, wall, train_wall, tables, results, finals)
    print(f"traces written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
