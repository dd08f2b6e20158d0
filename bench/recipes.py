"""Reproduce fast_adversarial's MNIST FGSM result end to end, and explain the platform's earlier gap.

Runs ``search_spaces/recipes/fa_mnist_fgsm.yaml`` (mnist_net without BatchNorm, raw pixels, Adam 5e-3
cyclic, RS-FGSM ε = 0.3 / α = 0.375 from an unclipped start, 10 epochs, batch 100) for several seeds and
prints clean and PGD-50×10 (step 0.01, the first 1,000 test images) on the last and the selected epoch,
AutoAttack (standard) on a subset, next to the reference figures the recipe names. ``--ablation``
also runs the platform's earlier expression of the recipe (small CNN with BatchNorm, SGD lr 0.05, a
clipped start, standardised inputs; issue 14's table) and single changes between the two, one seed
each, to show which change moves the result and by how much. ``--released PATH`` evaluates
fast_adversarial's released ``MNIST/models/fgsm.pth`` with the platform's evaluator. ``--compare-reference``
runs each seed through the platform and through an independent loop (``bench/fa_mnist_reference.py``) and
compares the two distributions (``bench/recipe_compare.py``, issue 27).

    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/recipes.py [--seeds 0,1,2] [--ablation] [--workers 2]
        [--aa-n 100] [--released /path/to/fgsm.pth] [--out bench/out/recipes]
    STUDY_DATA_DIR=../shared/data .venv/bin/python bench/recipes.py --compare-reference --seeds 0,1,2,3,4,5,6,7,8,9
        [--workers 2] [--report-every K] [--split-seed-from-seed] [--epoch-test-pgd STEPS] [--results FILE.json.gz]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import recipe_compare  # noqa: E402

RECIPE = REPO / "search_spaces" / "recipes" / "fa_mnist_fgsm.yaml"
LAST, BEST = "test/last/pgd50x10_acc", "test/best/pgd50x10_acc"

# The platform's expression of the recipe before issue 14 (issue 14's table, row 3), as overrides of the recipe.
BEFORE = {"model.batchnorm": True, "model.normalize": True, "method.clip_start": True, "method.attack_bn_mode": "train",
          "optim.name": "sgd", "optim.lr": 0.05, "optim.momentum": 0.9, "optim.weight_decay": 5e-4, "optim.betas": None}
# One change at a time from BEFORE toward the recipe (what each label turns into the recipe's value).
ABLATION = {
    "before (issue 14 row 3)": {},
    "+ Adam 5e-3, no wd": {"optim.name": "adam", "optim.lr": 0.005, "optim.momentum": None, "optim.weight_decay": 0.0},
    "+ no BatchNorm": {"model.batchnorm": False},
    "+ eval-mode attack BN": {"method.attack_bn_mode": "eval"},
    "+ SGD lr 0.01": {"optim.lr": 0.01},
    "+ raw pixels, unclipped start": {"model.normalize": False, "method.clip_start": False},
    "+ Adam and no BatchNorm": {"optim.name": "adam", "optim.lr": 0.005, "optim.momentum": None,
                                "optim.weight_decay": 0.0, "model.batchnorm": False},
}


def load_recipe():
    from study.cli.commands.train import load_run_config

    return load_run_config(str(RECIPE))


QUICK: dict = {}  # --quick's overrides


def job_config(overrides: dict, seed: int, label: str, aa_n: int):
    from trainables.schema.config import with_overrides

    cfg = with_overrides(load_recipe(), {**overrides, **QUICK, "seed": seed, "threads": 1})
    cfg.eval.autoattack, cfg.eval.autoattack_n = aa_n > 0, max(aa_n, 1)
    cfg.name = f"{label}-seed{seed}"
    return cfg


def run_job(job: dict) -> dict:
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit

    cfg = RunConfig.model_validate(job["config"])
    t0 = time.perf_counter()
    res = fit(cfg, Path(job["out"]) / _slug(cfg.name))
    return {**job, "final": res.final, "records": [r.flat() for r in res.records], "wall_s": time.perf_counter() - t0}


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def released(path: str, aa_n: int = 0) -> dict:
    """fast_adversarial's released MNIST FGSM weights under the platform's evaluator (PGD-50×10, step 0.01;
    AutoAttack standard on the first ``aa_n`` test images, as the recipe runs)."""
    import torch

    from trainables.data import build_data
    from trainables.evaluation.evaluate import robust_accuracy
    from trainables.models import build_from_config
    from trainables.evaluation.validation import eval_pgd

    cfg = load_recipe()
    data = build_data(cfg.data, 100, "cpu", 0)
    model = build_from_config(cfg.model, 10, 1, data.mean, data.std, 28)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.net.load_state_dict(state)
    model.eval()
    batches = list(data.test_batches(1000))
    torch.manual_seed(0)
    r = robust_accuracy(model, batches, eval_pgd(cfg, 50, 10, contextlib.nullcontext))
    out = {"clean": r["clean_acc"], "pgd50x10": r["adv_acc"], "test_images": sum(len(b[1]) for b in batches)}
    if aa_n:
        from trainables.attacks.autoattack import autoattack_accuracy

        x, y = torch.cat([b[0] for b in batches])[:aa_n], torch.cat([b[1] for b in batches])[:aa_n]
        out["autoattack"] = autoattack_accuracy(model, x, y, cfg.eval_epsilon / 255, cfg.eval_norm, 10, 256, 0)
    return out


def save_released(args) -> None:
    """Evaluate the released model alone and keep its readings, the command and the commit (bench/results/)."""
    from bench.traces import commit

    aa_n = 100 if args.aa_n is None else args.aa_n
    t0 = time.perf_counter()
    r = released(args.released, aa_n)
    Path(args.released_out).write_text(json.dumps({
        "command": "STUDY_DATA_DIR=../shared/data .venv/bin/python bench/recipes.py --released <fast_adversarial>/MNIST/"
                   f"models/fgsm.pth --aa-n {aa_n} --released-out {args.released_out}",
        "commit": commit(), "aa_n": aa_n, "test_images": r["test_images"], "readings": r,
        "wall_s": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")
    print(f"released fgsm.pth: {r} -> {args.released_out}")


def released_markdown(saved: dict) -> str:
    """The released model's two rows (its evaluator's published figures, ours) as bench/README.md's table."""
    ref, r = load_recipe().reference.figures, saved["readings"]
    aa = f"{r['autoattack']:.3f}" if "autoattack" in r else "–"
    return "\n".join([
        f"| model | clean | PGD-50×10 (first {saved['test_images']:,} test images) | AutoAttack (first {saved['aa_n']}) |",
        "|---|---|---|---|",
        f"| reference: released `fgsm.pth`, fast_adversarial's evaluator | {ref['test/last/clean_acc']:.3f} "
        f"| {ref['test/last/pgd50x10_acc']:.3f} | – |",
        f"| released `fgsm.pth`, the platform's evaluator | {r['clean']:.3f} | {r['pgd50x10']:.3f} | {aa} |"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--ablation", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--aa-n", type=int, default=None,
                   help="test images for AutoAttack on the recipe runs (0: none; default 100, --compare-reference 200)")
    p.add_argument("--released", default=None, help="fast_adversarial MNIST/models/fgsm.pth, evaluated here too")
    p.add_argument("--released-out", default=None, help="with --released: evaluate only the released model and "
                   "write its readings to this JSON (bench/results/released_fa_mnist.json, replayed by bench/replay.py)")
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "recipes"))
    p.add_argument("--report-only", action="store_true", help="print the tables from OUT/results.json again")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 epoch on 2,000 training images, 200 test images")
    recipe_compare.add_arguments(p)
    args = p.parse_args()
    if args.quick:
        QUICK.update({"epochs": 1, "data.train_subset": 2000, "data.test_subset": 200})
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.released and args.released_out:
        return save_released(args)
    if args.compare_reference:
        return recipe_compare.main(args, seeds, job_config)
    if args.aa_n is None:
        args.aa_n = 100
    jobs = [dict(kind="recipe", label="recipe", seed=s, config=job_config({}, s, "recipe", args.aa_n).model_dump(mode="json"),
                 out=args.out) for s in seeds]
    if args.ablation:
        jobs += [dict(kind="ablation", label=label, seed=0, out=args.out,
                      config=job_config({**BEFORE, **change}, 0, label, 0).model_dump(mode="json"))
                 for label, change in ABLATION.items()]
    out = Path(args.out)
    summary = out / "results.json"
    if args.report_only:
        results = json.loads(summary.read_text())["results"]
    else:
        t0 = time.perf_counter()
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as ex:
            results = list(ex.map(run_job, jobs))
        print(f"{len(jobs)} runs in {time.perf_counter() - t0:.0f} s with {args.workers} workers\n")
        out.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps({"argv": sys.argv, "results": results}, indent=1))
    report(results, args)


def report(results: list[dict], args) -> None:
    ref = load_recipe().reference
    print(f"reference ({ref.source}):")
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in ref.figures.items()))
    if args.released:
        r = released(args.released, args.aa_n)
        aa = f", AutoAttack (first {args.aa_n}) {r['autoattack']:.3f}" if "autoattack" in r else ""
        print(f"  released fgsm.pth under the platform's evaluator: clean {r['clean']:.3f}, PGD-50x10 {r['pgd50x10']:.3f}{aa}")
    rec = [r for r in results if r["kind"] == "recipe"]
    print("\nrecipe runs (first 1,000 test images; PGD-50x10 at step 0.01; best = selected on val/robust_acc):")
    print(f"{'seed':>4} {'clean last':>10} {'PGD last':>9} {'clean best':>10} {'PGD best':>9} {'AA last':>8} {'best ep':>7} {'wall s':>7}")
    for r in rec:
        f = r["final"]
        print(f"{r['seed']:>4} {f['test/last/clean_acc']:10.3f} {f[LAST]:9.3f} {f['test/best/clean_acc']:10.3f} "
              f"{f[BEST]:9.3f} {f.get('test/last/autoattack_acc', float('nan')):8.3f} {int(f['test/best/epoch']):>7} "
              f"{r['wall_s']:7.0f}")
    for key, name in ((LAST, "PGD-50x10 last"), (BEST, "PGD-50x10 best"), ("test/last/clean_acc", "clean last")):
        xs = [r["final"][key] for r in rec]
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        print(f"  {name}: mean {statistics.mean(xs):.3f} ± {sd:.3f} (sd over {len(xs)} seeds), min {min(xs):.3f}, max {max(xs):.3f}")
    if args.ablation:
        print("\nablation (seed 0; from the platform's earlier expression toward the recipe, one change at a time):")
        print(f"{'variant':34} {'clean last':>10} {'PGD last':>9} {'PGD best':>9} {'val pgd last':>12} {'val robust last':>15}")
        for r in (x for x in results if x["kind"] == "ablation"):
            f, last = r["final"], r["records"][-1]
            print(f"{r['label']:34} {f['test/last/clean_acc']:10.3f} {f[LAST]:9.3f} {f[BEST]:9.3f} "
                  f"{last.get('val/pgd_acc', float('nan')):12.3f} {last.get('val/robust_acc', float('nan')):15.3f}")
    print(f"\ntraces: {args.out}/<run>/records.jsonl, summary {args.out}/results.json")


if __name__ == "__main__":
    main()
