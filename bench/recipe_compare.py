"""``bench/recipes.py --compare-reference``: the fa_mnist recipe through the platform and through an independent loop,
over the same seeds, and whether the two distributions differ (issue 27).

Per seed, two runs, each in a worker process: the platform (``fit`` on ``search_spaces/recipes/fa_mnist_fgsm.yaml``
with a workdir, as ``bench/recipes.py`` runs it) and ``bench/fa_mnist_reference.py`` (the same recipe written
from its description, all 60,000 training images, the last epoch read by the platform's evaluator). Each run
writes one JSON under ``OUT/compare/``; a finished one is read back, never retrained, so an interrupted job
continues where it stopped. Printed: collapses (last-epoch PGD-50x10 < 0.2) with 95 % Wilson intervals, mean ±
sd of the last epoch's PGD-50x10 (and, platform only, of the validation-selected epoch's), AutoAttack, a rank
test of the two last-epoch distributions and Fisher's exact test of the collapse counts, and the wall time.

Options for the platform runs: ``--report-every K`` (eval.report_every), ``--split-seed-from-seed``
(data.split_seed = seed), ``--epoch-test-pgd STEPS`` (``bench.epoch_test``: each epoch's weights read on test,
never used for selection); ``--results FILE`` writes every run's records and final figures as compact gzip JSON
with the command and the commit, for bench/results/.
"""
from __future__ import annotations

import gzip
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLAPSE = 0.2  # last-epoch PGD-50x10 below this: a collapsed run
LAST, BEST = "test/last/pgd50x10_acc", "test/best/pgd50x10_acc"
AA_LAST, AA_BEST = "test/last/autoattack_acc", "test/best/autoattack_acc"
KINDS = ("platform", "reference")


def add_arguments(p) -> None:
    g = p.add_argument_group("--compare-reference (issue 27)")
    g.add_argument("--compare-reference", action="store_true",
                   help="run the recipe through the platform and bench/fa_mnist_reference.py for --seeds; compare")
    g.add_argument("--report-every", type=int, default=None, metavar="K", help="platform runs: eval.report_every")
    g.add_argument("--split-seed-from-seed", action="store_true", help="platform runs: data.split_seed = seed")
    g.add_argument("--epoch-test-pgd", type=int, default=None, metavar="STEPS",
                   help="platform runs: read every epoch's weights on test with PGD-STEPS (bench/epoch_test.py)")
    g.add_argument("--results", default=None, metavar="FILE.json.gz",
                   help="write every run's records and final figures (compact gzip JSON) with the command and commit")


def tag(args) -> str:
    """The platform options in a run's file name, so runs with other options never share a file."""
    return ((f"-re{args.report_every}" if args.report_every else "") + ("-ss" if args.split_seed_from_seed else "")
            + (f"-et{args.epoch_test_pgd}" if args.epoch_test_pgd else "") + size_tag(args))


def size_tag(args) -> str:
    return ("-quick" if args.quick else "") + (f"-aa{args.aa_n}" if args.aa_n != default_aa(args) else "")


def default_aa(args) -> int:
    return 20 if args.quick else 200


def jobs(args, seeds: list[int], job_config) -> list[dict]:
    """One platform and one reference job per seed (``job_config`` is bench/recipes.py's)."""
    out, command = Path(args.out) / "compare", " ".join(sys.argv)
    import os

    data_dir = os.environ.get("STUDY_DATA_DIR", str(REPO.parent / "shared" / "data"))
    todo = []
    for s in seeds:
        over = {}
        if args.report_every:
            over["eval.report_every"] = args.report_every
        if args.split_seed_from_seed:
            over["data.split_seed"] = s
        cfg = job_config(over, s, f"platform{tag(args)}", args.aa_n)
        name = f"platform-seed{s}{tag(args)}"
        todo.append(dict(kind="platform", seed=s, config=cfg.model_dump(mode="json"), path=str(out / f"{name}.json"),
                         workdir=str(out / "runs" / name), epoch_test_pgd=args.epoch_test_pgd, command=command))
        todo.append(dict(kind="reference", seed=s, quick=args.quick, aa_n=args.aa_n, data_dir=data_dir,
                         path=str(out / f"reference-seed{s}{size_tag(args)}.json"), command=command))
    return todo


def run_job(job: dict) -> dict:
    """One run in a worker; a finished run's JSON is read back (its config must be this job's)."""
    path = Path(job["path"])
    if path.exists():
        done = json.loads(path.read_text())
        if job["kind"] == "platform" and done.get("config") != job["config"]:
            raise SystemExit(f"{path} holds a run of another config; move it away or choose another --out")
        return done
    if job["kind"] == "reference":
        from bench.fa_mnist_reference import run

        def log(line):
            print(f"[reference seed {job['seed']}] {line}", flush=True)

        return run(job["seed"], path, Path(job["data_dir"]), job["quick"], 1, job["command"], log, aa_n=job["aa_n"])
    return run_platform(job, path)


def run_platform(job: dict, path: Path) -> dict:
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit
    from trainables.training.trainer import Trainer

    t0 = time.perf_counter()
    cfg = RunConfig.model_validate(job["config"])
    trainer = Trainer(cfg)
    callbacks = []
    if job.get("epoch_test_pgd"):
        from bench.epoch_test import epoch_test_callback

        callbacks.append(epoch_test_callback(trainer, steps=job["epoch_test_pgd"]))
    res = fit(cfg, job["workdir"], callbacks=callbacks, trainer=trainer)
    out = {"kind": "platform", "seed": job["seed"], "config": job["config"], "final": res.final,
           "records": [r.flat() for r in res.records], "stop_reason": res.stop_reason,
           "wall_s": time.perf_counter() - t0, "command": job["command"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    return out


def main(args, seeds: list[int], job_config) -> None:
    if args.aa_n is None:
        args.aa_n = default_aa(args)
    todo = jobs(args, seeds, job_config)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as ex:
        results = list(ex.map(run_job, todo))
    elapsed = time.perf_counter() - t0
    report(results, args, elapsed)
    if args.results:
        write_results(Path(args.results), results, args)
        print(f"\nresults: {args.results}")


def report(results: list[dict], args, elapsed: float) -> None:
    from bench.two_sample import fisher_exact_p, rank_test, wilson

    by = {k: sorted((r for r in results if r["kind"] == k), key=lambda r: r["seed"]) for k in KINDS}
    print(f"fa_mnist recipe, platform vs independent loop ({'quick smoke run' if args.quick else 'full runs'}); "
          f"PGD-50x10 at step 0.01 on the first {'200' if args.quick else '1,000'} test images, AutoAttack "
          f"(standard) on the first {args.aa_n}; collapse: last-epoch PGD-50x10 < {COLLAPSE}")
    print(f"\n{'seed':>4} {'platform last':>13} {'selected':>8} {'(epoch)':>7} {'AA last':>7} {'ref last':>8} "
          f"{'ref AA':>6} {'plat s':>7} {'ref s':>6}")
    ref = {r["seed"]: r for r in by["reference"]}
    for p in by["platform"]:
        f, g = p["final"], ref.get(p["seed"], {}).get("final", {})
        print(f"{p['seed']:>4} {f.get(LAST, nan()):13.3f} {f.get(BEST, nan()):8.3f} {int(f.get('test/best/epoch', 0)):>7} "
              f"{f.get(AA_LAST, nan()):7.3f} {g.get(LAST, nan()):8.3f} {g.get(AA_LAST, nan()):6.3f} "
              f"{p['wall_s']:7.0f} {ref.get(p['seed'], {}).get('wall_s', nan()):6.0f}")
    last = {k: [r["final"][LAST] for r in by[k] if LAST in r["final"]] for k in KINDS}
    print()
    for k in KINDS:
        xs = last[k]
        c = sum(x < COLLAPSE for x in xs)
        lo, hi = wilson(c, len(xs))
        print(f"{k:9}: collapses {c}/{len(xs)} (95 % Wilson {lo:.2f}-{hi:.2f}); last PGD-50x10 {_msd(xs)}; "
              f"AutoAttack last {_msd([r['final'][AA_LAST] for r in by[k] if AA_LAST in r['final']])}")
    print(f"{'':9}  selected-epoch PGD-50x10 {_msd([r['final'][BEST] for r in by['platform'] if BEST in r['final']])}, "
          f"AutoAttack {_msd([r['final'][AA_BEST] for r in by['platform'] if AA_BEST in r['final']])}")
    name, p2 = rank_test(last["platform"], last["reference"])
    _, p1 = rank_test(last["platform"], last["reference"], "less")
    cp, cr = (sum(x < COLLAPSE for x in last[k]) for k in KINDS)
    print(f"\nlast-epoch PGD-50x10, platform vs reference: {name} p = {p2:.3f} two-sided, {p1:.3f} one-sided "
          f"(platform lower); collapses {cp}/{len(last['platform'])} vs {cr}/{len(last['reference'])}: "
          f"Fisher exact p = {fisher_exact_p(cp, len(last['platform']), cr, len(last['reference'])):.3f}")
    runs = sum(r["wall_s"] for r in results)
    print(f"wall: {elapsed:.0f} s for this invocation with {args.workers} workers (finished runs read back); the runs' "
          f"own wall times sum to {runs:.0f} s (platform {sum(r['wall_s'] for r in by['platform']):.0f} s, "
          f"reference {sum(r['wall_s'] for r in by['reference']):.0f} s)")
    print(f"runs: {Path(args.out) / 'compare'}/platform-seed<S>{tag(args)}.json, reference-seed<S>{size_tag(args)}.json")


def _msd(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3f} ± {sd:.3f} (n = {len(xs)})"


def nan() -> float:
    return float("nan")


def markdown_from_results(path: Path) -> str:
    """The comparison as bench/README.md's markdown (per-seed table, both distributions, the two tests), from a
    ``--results`` file: no training (bench/replay.py)."""
    from bench.two_sample import fisher_exact_p, rank_test, wilson

    with gzip.open(path, "rt", encoding="utf-8") as f:
        results = json.load(f)["runs"]
    by = {k: {r["seed"]: r["final"] for r in results if r["kind"] == k} for k in KINDS}
    pct = lambda x: "–" if x is None or x != x else f"{100 * x:.1f}"  # noqa: E731
    lines = ["| seed | platform last PGD-50×10 | selected (epoch) | AutoAttack last / selected | independent loop last "
             "PGD-50×10 | its AutoAttack last |", "|---|---|---|---|---|---|"]
    for seed in sorted(set(by["platform"]) | set(by["reference"])):
        f, g = by["platform"].get(seed, {}), by["reference"].get(seed, {})
        lines.append(f"| {seed} | {pct(f.get(LAST))} | {pct(f.get(BEST))} ({int(f.get('test/best/epoch', 0))}) | "
                     f"{pct(f.get(AA_LAST))} / {pct(f.get(AA_BEST))} | {pct(g.get(LAST))} | {pct(g.get(AA_LAST))} |")
    msd = lambda xs: "–" if not xs else (f"{100 * statistics.mean(xs):.1f} ± "  # noqa: E731
                                         f"{100 * (statistics.stdev(xs) if len(xs) > 1 else 0):.1f}")
    last = {k: [f[LAST] for f in by[k].values() if LAST in f] for k in KINDS}
    lines += ["", "| loop | runs | collapses (last < 20 %), 95 % Wilson | last PGD-50×10 (mean ± sd, %) | "
              "selected-epoch PGD-50×10 | AutoAttack last | AutoAttack selected |", "|---|---|---|---|---|---|---|"]
    for k in KINDS:
        c = sum(x < COLLAPSE for x in last[k])
        lo, hi = wilson(c, len(last[k]))
        sel = [f[BEST] for f in by[k].values() if BEST in f]
        lines.append(f"| {k} | {len(last[k])} | {c} ({lo:.2f}–{hi:.2f}) | {msd(last[k])} | {msd(sel)} | "
                     f"{msd([f[AA_LAST] for f in by[k].values() if AA_LAST in f])} | "
                     f"{msd([f[AA_BEST] for f in by[k].values() if AA_BEST in f])} |")
    name, p2 = rank_test(last["platform"], last["reference"])
    cp, cr = (sum(x < COLLAPSE for x in last[k]) for k in KINDS)
    lines += ["", f"Last-epoch PGD-50×10, platform vs independent loop: {name} p = {p2:.3f} (two-sided); collapses "
              f"{cp}/{len(last['platform'])} vs {cr}/{len(last['reference'])}: Fisher's exact p = "
              f"{fisher_exact_p(cp, len(last['platform']), cr, len(last['reference'])):.3f}."]
    return "\n".join(lines)


def write_results(path: Path, results: list[dict], args) -> None:
    """Every run's per-epoch (and window) records and final figures, compact, gzip: no checkpoints."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = None
    keep = ("kind", "seed", "final", "records", "stop_reason", "wall_s", "train_s", "recipe", "config")
    doc = {"command": " ".join(sys.argv), "git_head": head, "collapse_below": COLLAPSE,
           "options": {k: getattr(args, k) for k in ("seeds", "quick", "aa_n", "report_every", "split_seed_from_seed",
                                                     "epoch_test_pgd", "workers")},
           "runs": [{k: r[k] for k in keep if k in r} for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
