"""Does the per-epoch masking check see what AutoAttack sees? A panel of real checkpoints with known ground truth
(issue 26).

Each checkpoint (a run's ``best.pt`` or last ``state.pt``, or a deliberately masked wrapper of one) is read on test
by PGD-50×10 and AutoAttack standard on the same first ``--test-n`` images: ground truth "masked" when AutoAttack
reads more than 5 points below PGD-50×10. On its own validation split (rebuilt from the checkpoint's run config)
each candidate check runs as the trainer runs it: validation PGD-10 (step ε/4) on the first ``--val-n`` images,
the candidate on the ones PGD left robust, the checked reading ``val/robust_acc`` = PGD × the share left robust
(``trainables.evaluation.validation.masking_gap``), and a flag by each flag rule; AutoAttack standard on the same validation
images is the reading to be near. Printed: one row per checkpoint, then per candidate its recall on the masked
checkpoints, its false-flag rate on the others, how often its checked reading is within 3 points of AutoAttack on
validation, and its cost per check. Checkpoints are read, never trained: the corpora that made them are
bench/co_corpus.py, bench/recipes.py --compare-reference and the RO grid of bench/ro_study.py --test-all (their
folders under bench/out/). The RO grid's checkpoints bring their test readings with them (PGD-50×10 and AutoAttack
standard on the first 1,000 test images, read by the grid); the others are read here. Flags are computed from the
stored counts when the table is printed, so a flag rule added later is judged on every row without attacking again.

How the default is chosen (registered before the held-out panel was read): the held-out panel (every answer-corpus
setting's seed 5, last checkpoint, and the RO grid's runs after seed 0's first three) judges the candidates chosen
on the development panel. The default is the cheapest check (mean seconds per check on the development panel) whose
flag rule meets issue 26's three goals on the held-out panel: recall >= 90 %, false flags <= 10 %, the checked
reading within 3 points of validation AutoAttack on >= 90 %. If none meets all three: the cheapest that meets the
reading and recall goals (the reading is what selection and the search objective use); if none does, the one with
the most readings within 3 points, then the higher recall, then the cheaper.

    STUDY_DATA_DIR=../shared/data python bench/masking_panel.py [--test-n 1000] [--val-n 128] [--workers 2]
    STUDY_DATA_DIR=../shared/data python bench/masking_panel.py --quick     # 3 checkpoints, small n: minutes
    python bench/masking_panel.py --report bench/results/masking_panel.json.gz   # the tables again, no attack
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from trainables.evaluation.masking_flag import FLAG_RULES, wilson_lower  # noqa: E402,F401  (light: math only)

OUT = REPO / "bench" / "out"
TRUTH_GAP = 0.05  # masked: AutoAttack more than this below PGD-50x10 (issue 26's definition)
NEAR = 0.03  # a checked reading within this of AutoAttack on validation counts as right


# ---------------------------------------------------------------- candidate checks: (model, x, y, eps, norm) -> survivors
def _attacks(dlr: bool, targets: int, queries: int) -> Callable:
    """A candidate check: the platform's own ``masking_check`` (APGD-CE, APGD-DLR if ``dlr``, APGD-T towards
    ``targets`` classes, then Square with ``queries``; each on the last one's survivors) at fra31's 100 iterations."""
    def check(model, x, y, eps, norm):
        from trainables.evaluation.validation import masking_check
        from trainables.schema.config import MaskingCheck

        spec = MaskingCheck(apgd_steps=100, apgd_dlr=dlr, apgd_targets=targets, square_queries=queries)
        return masking_check(model, x, y, eps, norm, spec)
    return check


def autoattack_robust(model, x, y, eps, norm, batch_size: int = 256):
    """Per image: whether AutoAttack standard (fra31's, trainables.attacks.autoattack) left it correctly classified."""
    import torch
    import torchattacks as ta

    from trainables.attacks.autoattack import VERSIONS

    parts = VERSIONS["standard"].components(model, {"linf": "Linf", "l2": "L2"}[norm], eps, 10, 0)
    attack, out = ta.MultiAttack(parts), []
    for i in range(0, len(y), batch_size):
        adv = attack(x[i:i + batch_size], y[i:i + batch_size])
        with torch.no_grad():
            out.append(model(adv).argmax(1) == y[i:i + batch_size])
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


CHECKS: dict[str, Callable] = {
    "APGD-CE + Square 300 (default)": _attacks(False, 0, 300),
    "APGD-CE + APGD-DLR + Square 1000": _attacks(True, 0, 1000),
    "APGD-CE + APGD-T + Square 1000": _attacks(False, 9, 1000),
    # added after the 1,000-image truth of the development panel was read (so judged on the held-out panel): both
    # losses AutoAttack adds for masking, chained
    "APGD-CE + APGD-DLR + APGD-T + Square 1000": _attacks(True, 9, 1000),
    # added with the held-out panel, before any of its readings: APGD-T at a third of its cost
    "APGD-CE + APGD-T top 3 + Square 1000": _attacks(False, 3, 1000),
}
# how a stored check name is printed: the check that was the default until issue 26, and the one chosen then
SHOWN = {"APGD-CE + Square 300 (default)": "APGD-CE + Square 300 (until issue 26)",
         "APGD-CE + APGD-T top 3 + Square 1000": "APGD-CE + APGD-T top 3 + Square 1000 (default)"}
AA_CHECK = "AutoAttack standard"  # as a check: read off the validation AutoAttack run, not run twice


# ---------------------------------------------------------------- flag rules: (pgd_acc, checked, broken) -> flag
def _platform(rule: str) -> Callable[[float, int, int], bool]:
    """The platform's flag rule ``rule`` (trainables/evaluation/masking_flag.py) at threshold 0.05."""
    return lambda pgd, checked, broken: FLAG_RULES[rule](pgd, checked, broken, TRUTH_GAP)


FLAGS: dict[str, Callable[[float, int, int], bool]] = {
    "gap > 0.05 (flag: gap)": _platform("gap"),
    "broken share > 0.10, 95 % bound": lambda pgd, checked, broken: wilson_lower(broken, checked) > 0.10,
    "broken share > 0.05, 95 % bound": lambda pgd, checked, broken: wilson_lower(broken, checked) > 0.05,
    # added before the ground truth on 1,000 test images was read: the gap rule made binomial, flagging only when
    # the gap's one-sided 95 % lower bound (PGD accuracy x the Wilson bound of the broken share) exceeds 0.05
    "gap's 95 % bound > 0.05 (flag: gap_bound)": _platform("gap_bound"),
}


# ---------------------------------------------------------------- the panel
@dataclass(frozen=True)
class Entry:
    name: str
    path: str  # best.pt or state.pt
    masked_wrapper: bool = False  # wrap in shattered gradients (input quantised to 2 levels)
    truth: str = ""  # a test_per_image.json of bench/ro_study.py --test-all: the test readings already made
    which: str = ""  # "best" or "last" in that file
    panel: str = "development"  # or "held-out": registered before any of its readings, never used to choose


# the RO grid runs that were in the panel when its candidates were compared (496f3e8); later ones are held out
RO_DEVELOPMENT = {"pgd-at-e12.75-s0", "trades-e12.75-s0", "der-1-e12.75-s0"}
# the held-out answer-corpus seed: every setting's seed 5, last checkpoint (the development picks are seeds 0-4)
HELD_OUT_SEED = 5


def _ro_runs() -> list[Entry]:
    """The RO grid's finished runs (bench/ro_study.py --test-all): PGD-AT, TRADES and DER models of Fashion-MNIST,
    best and last, whose PGD-50×10 and AutoAttack standard on the first 1,000 test images were read by the grid.
    Runs outside ``RO_DEVELOPMENT`` join the held-out panel."""
    from bench.ro_reviewer import PER_IMAGE_FILE
    from trainables.models.saved import BEST_FILE, STATE_FILE

    out = []
    for f in sorted((OUT / "ro_study" / "runs").glob(f"*/{PER_IMAGE_FILE}")):
        label = f.parent.name.split("-ro-fmnist-")[-1]
        for which, ckpt in (("best", BEST_FILE), ("last", STATE_FILE)):
            if (f.parent / "checkpoint" / ckpt).exists():
                out.append(Entry(f"RO {label} {which}", str(f.parent / "checkpoint" / ckpt), truth=str(f), which=which,
                                 panel="development" if label in RO_DEVELOPMENT else "held-out"))
    return out


def discover(quick: bool) -> list[Entry]:
    """The checkpoints the corpora left under bench/out: the fa_mnist recipe seeds (best and last), collapsed and
    healthy single-step runs of the answer corpus, shattered-gradient wrappers of two of them, and (not with
    ``quick``) the finished runs of the RO grid and the held-out panel: the last checkpoint of seed ``HELD_OUT_SEED``
    of every answer-corpus setting (FGSM, RS-FGSM, N-FGSM at three ε, DER 0 / 0.1 / 1)."""
    from trainables.models.saved import BEST_FILE, STATE_FILE

    out: list[Entry] = []
    compare = OUT / "recipes" / "compare"
    recipe = sorted(d for d in (compare / "runs").glob("platform-seed*/checkpoint")
                    if (compare / f"{d.parent.name}.json").exists())  # finished runs only
    for d in recipe:
        seed = d.parent.name.split("-")[1]
        out += [Entry(f"fa_mnist {seed} best", str(d / BEST_FILE)), Entry(f"fa_mnist {seed} last", str(d / STATE_FILE))]
    corpus = OUT / "answer_corpus"
    picks = [("fgsm-bneval-e56-a1-ev56-ss-s0", "FGSM 56 s0 (collapsed)"), ("fgsm-bneval-e56-a1-ev56-ss-s1", "FGSM 56 s1 (collapsed)"),
             ("fgsm-bneval-e64-a1-der1-ev56-ss-s4", "FGSM 64 λ1 s4 (collapsed)"), ("fgsm-bneval-e56-a1-ev56-ss-s2", "FGSM 56 s2 (healthy)"),
             ("rs_fgsm-bneval-e64-a1.25-ev56-ss-s0", "RS-FGSM 64 s0"), ("rs_fgsm-bneval-e56-a1.25-ev56-ss-s3", "RS-FGSM 56 s3"),
             ("n_fgsm-bneval-e48-a1-ev56-ss-s2", "N-FGSM 48 s2")]
    for run, label in picks:
        d = corpus / "runs" / f"mnist-{run}" / "checkpoint"
        if (d / STATE_FILE).exists():
            out.append(Entry(f"{label} last", str(d / STATE_FILE)))
    bases = [e for e in out if e.name.endswith("last")][:1] + [e for e in out if "RS-FGSM 64" in e.name][:1]
    out += [Entry(f"{e.name} behind shattered gradients", e.path, masked_wrapper=True) for e in bases]
    if quick:
        out = out[:1] + [e for e in out if "collapsed" in e.name][:1] + [e for e in out if e.masked_wrapper][:1]
    else:
        out += _ro_runs()
        for d in sorted((corpus / "runs").glob(f"mnist-*-s{HELD_OUT_SEED}")):
            if (d / "checkpoint" / STATE_FILE).exists():
                out.append(Entry(f"{d.name.removeprefix('mnist-')} last", str(d / "checkpoint" / STATE_FILE),
                                 panel="held-out"))
    return out


def _shattered(model):
    from torch import nn

    class Shattered(nn.Module):
        """Athalye et al.'s shattered gradients: the input quantised to two levels (gradient 0 everywhere)."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x * 0 + x.round().detach())

    return Shattered(model).eval()


def _validation_side(model, data, cfg, val_n: int, eps: float, norm: str, have: dict | None = None) -> dict:
    """Validation PGD-10, AutoAttack on the same validation images, and every candidate check's counts. ``have``: the
    validation side read before (deterministic); only the checks it lacks are run, on the same PGD-robust images."""
    import torch

    from trainables.evaluation.evaluate import robust_accuracy
    from trainables.evaluation.masking_flag import masking_gap
    from trainables.evaluation.validation import eval_pgd
    from trainables.training.runtime import seed_all

    row: dict = {}
    xv, yv = next(iter(data.val_batches(val_n)))
    xv, yv = xv[: val_n], yv[: val_n]
    seed_all(1)
    r = robust_accuracy(model, [(xv, yv)], eval_pgd(cfg, cfg.eval.val_pgd_steps, 1, contextlib.nullcontext),
                        keep_first=len(yv))
    pgd, ok = r["adv_acc"], r["robust_mask"]
    if have:
        if abs(have["val_pgd10"] - pgd) > 1e-9:
            raise RuntimeError(f"validation PGD-10 reads {pgd} now, {have['val_pgd10']} before: not deterministic")
        row = {k: have[k] for k in ("val_pgd10", "val_autoattack")}
        row["checks"] = dict(have["checks"])
    else:
        a0 = time.perf_counter()
        aa_ok = autoattack_robust(model, xv, yv, eps, norm)
        row["val_pgd10"], row["val_autoattack"] = pgd, float(aa_ok.float().mean())
        row["checks"] = {}

    def record(name, survivors, seconds):
        checked = int(ok.sum())
        broken = checked - int(survivors.sum())
        row["checks"][name] = {"checked": checked, "broken": broken, "reading": pgd - masking_gap(pgd, checked, broken),
                               "seconds": seconds}  # flags are derived from the counts when printed (``flag``)

    if not have:
        record(AA_CHECK, aa_ok[ok], time.perf_counter() - a0)
    for name, check in CHECKS.items():
        if name in row["checks"]:
            continue
        c0 = time.perf_counter()
        survivors = check(model, xv[ok], yv[ok], eps, norm) if ok.any() else torch.zeros(0, dtype=torch.bool)
        record(name, survivors, time.perf_counter() - c0)
    return row


def measure(job: dict) -> dict:
    """Every reading of one checkpoint (runs in a worker process)."""
    import torch

    from trainables.attacks.autoattack import autoattack_accuracy
    from trainables.evaluation.evaluate import robust_accuracy
    from trainables.evaluation.validation import eval_pgd
    from trainables.generation.run import load_for_generation
    from trainables.training.runtime import seed_all

    torch.set_num_threads(1)
    e = Entry(**job["entry"])
    model, data, cfg, _ = load_for_generation(e.path)
    model = _shattered(model) if e.masked_wrapper else model.eval()
    eps, norm, row, t0 = cfg.eval_epsilon / 255, cfg.eval_norm, {"name": e.name, "path": e.path}, time.perf_counter()
    prev = job.get("prev") or {}
    if prev.get("test_n") == job["test_n"] and "test_autoattack" in prev:  # read before at this n: not redone
        row.update({k: prev[k] for k in ("test_pgd50x10", "test_autoattack", "test_n")})
    elif e.truth:  # read by the RO grid on its first 1,000 test images, with the same attacks
        saved = json.loads(Path(e.truth).read_text())
        row["test_pgd50x10"] = saved["final"][f"test/{e.which}/pgd50x10_acc"]
        row["test_autoattack"] = saved["final"][f"test/{e.which}/autoattack_acc"]
        row["test_n"] = int(saved["data"]["test_subset"])
    else:
        test = list(data.test_batches(256))
        xt, yt = torch.cat([b[0] for b in test])[: job["test_n"]], torch.cat([b[1] for b in test])[: job["test_n"]]
        seed_all(0)
        row["test_pgd50x10"] = robust_accuracy(model, [(xt, yt)], eval_pgd(cfg, 50, 10, contextlib.nullcontext,
                                                                           test=True))["adv_acc"]
        row["test_autoattack"] = autoattack_accuracy(model, xt, yt, eps, norm, data.num_classes, 256, 0)
        row["test_n"] = len(yt)
    row["masked"] = row["test_autoattack"] < row["test_pgd50x10"] - TRUTH_GAP
    # the validation side of an earlier run with the same --val-n is deterministic: only the checks it lacks run
    if prev and set(CHECKS) <= set(prev["checks"]):
        row.update({k: prev[k] for k in ("val_pgd10", "val_autoattack", "checks")})
    else:
        row.update(_validation_side(model, data, cfg, job["val_n"], eps, norm, prev or None))
    row["panel"] = e.panel
    row["seconds"] = time.perf_counter() - t0
    print(f"[{row['seconds']:5.0f} s] {e.name}: PGD-50x10 {row['test_pgd50x10']:.3f}, AA {row['test_autoattack']:.3f}"
          f"{' MASKED' if row['masked'] else ''}; val PGD {row['val_pgd10']:.3f}, val AA {row['val_autoattack']:.3f}", flush=True)
    return row


def train_epoch_s(path: str) -> float | None:
    """Mean seconds of a training epoch (``time/train_s``, one thread) of the run that left checkpoint ``path``."""
    records = Path(path).parents[1] / "records.jsonl"
    if not records.exists():
        return None
    secs = [r["time/train_s"] for r in map(json.loads, records.read_text().splitlines())
            if not r.get("partial") and "time/train_s" in r]
    return sum(secs) / len(secs) if secs else None


FAMILIES = {  # row name prefix -> the corpus's training set (for the cost table)
    "fa_mnist": "fa_mnist recipe (MNIST, 60,000 images)", "RO ": "RO grid (Fashion-MNIST, 500 images)"}


def family(name: str) -> str:
    return next((v for k, v in FAMILIES.items() if name.startswith(k)), "answer corpus (MNIST, 4,000 images)")


def cost_table(rows: list[dict]) -> list[str]:
    """Per corpus: its training epoch and each check's mean seconds, both on one thread (two trials share 2 cores)."""
    checks = list(dict.fromkeys(c for r in rows for c in r["checks"]))
    groups = {f: [r for r in rows if family(r["name"]) == f and r.get("train_epoch_s")] for f in
              dict.fromkeys(family(r["name"]) for r in rows)}
    lines = ["| corpus | checkpoints | training epoch, s | " + " | ".join(f"{SHOWN.get(c, c)}, s" for c in checks) + " |",
             "|" + "---|" * (3 + len(checks))]
    for f, these in groups.items():
        if these:
            mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
            cells = [f"{mean([r['checks'][c]['seconds'] for r in these if c in r['checks']]):.1f}"
                     if any(c in r["checks"] for r in these) else "–" for c in checks]
            lines.append(f"| {f} | {len(these)} | {mean([r['train_epoch_s'] for r in these]):.1f} | "
                         + " | ".join(cells) + " |")
    return lines


def flag(row: dict, check: str, rule: str) -> bool:
    """Whether ``rule`` flags ``row``'s reading by ``check``, computed from the stored counts (so a rule added later
    is judged on every row without attacking again)."""
    c = row["checks"][check]
    return bool(FLAGS[rule](row["val_pgd10"], c["checked"], c["broken"]))


def markdown(rows: list[dict]) -> str:
    """Per-checkpoint rows, then per candidate check and flag rule: recall, false flags, readings near AutoAttack."""
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    checks = list(dict.fromkeys(c for r in rows for c in r["checks"]))
    lines = ["| checkpoint | test images | test PGD-50×10 | test AutoAttack | masked (truth) | val PGD-10 | val AutoAttack | "
             + " | ".join(f"{SHOWN.get(c, c)}: reading" for c in checks) + " |", "|" + "---|" * (7 + len(checks))]
    for r in rows:
        lines.append(f"| {r['name']} | {r.get('test_n', '')} | {pct(r['test_pgd50x10'])} | {pct(r['test_autoattack'])} | "
                     f"{'yes' if r['masked'] else 'no'} | {pct(r['val_pgd10'])} | {pct(r['val_autoattack'])} | "
                     + " | ".join(pct(r["checks"][c]["reading"]) if c in r["checks"] else "–" for c in checks) + " |")
    panels = {p: [r for r in rows if r.get("panel", "development") == p] for p in ("development", "held-out")}
    for panel, these in panels.items():
        if these:
            lines += ["", *_summary(these, [c for c in checks if all(c in r["checks"] for r in these)],
                                    panel if len(these) < len(rows) else "")]
    if any(r.get("train_epoch_s") for r in rows):
        lines += ["", "Cost per epoch, one thread each: a training epoch of the run that left the checkpoint, and one "
                  "check on the validation images read (--val-n).", "", *cost_table(rows)]
    return "\n".join(lines)


def _summary(rows: list[dict], checks: list[str], panel: str) -> list[str]:
    """Per check and flag rule on ``rows``: recall, false flags, readings near AutoAttack, mean cost."""
    masked = [r for r in rows if r["masked"]]
    other = [r for r in rows if not r["masked"]]
    lines = [f"{panel.capitalize() + ' panel: ' if panel else ''}{len(rows)} checkpoints, {len(masked)} masked by the "
             "ground truth.", "",
             "| check | flag rule | flags the masked (recall) | flags the others | flag agrees with val AutoAttack "
             "> 5 points below val PGD-10 | reading within 3 points of val AutoAttack | seconds per check (mean) |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        near = sum(abs(r["checks"][c]["reading"] - r["val_autoattack"]) <= NEAR for r in rows)
        secs = sum(r["checks"][c]["seconds"] for r in rows) / len(rows)
        for f in FLAGS:
            hit = sum(flag(r, c, f) for r in masked)
            false = sum(flag(r, c, f) for r in other)
            agree = sum(flag(r, c, f) == (r["val_pgd10"] - r["val_autoattack"] > TRUTH_GAP) for r in rows)
            lines.append(f"| {SHOWN.get(c, c)} | {f} | {hit}/{len(masked)} | {false}/{len(other)} | {agree}/{len(rows)} | "
                         f"{near}/{len(rows)} | {secs:.1f} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test-n", type=int, default=1000, help="test images of the ground truth (a checkpoint read "
                    "before at another n keeps its validation side: only the test side is read again)")
    ap.add_argument("--val-n", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="3 checkpoints, test-n 32, val-n 32")
    ap.add_argument("--results", default=None, help="write the rows (gzip JSON) for bench/results/")
    ap.add_argument("--report", default=None, help="print the tables of a --results file and exit")
    ap.add_argument("--partial", default=None, help="each finished row is appended here; a rerun with the same n "
                    "skips those checkpoints (default: bench/out/masking_panel.partial.jsonl; --quick: a fresh file, "
                    "so it always measures)")
    ap.add_argument("--recheck", default="", type=lambda v: [c for c in v.split(",") if c],
                    help="comma-separated check names to run again on every stored row (their counts are "
                    "deterministic; their seconds are then measured on this machine as it is now)")
    args = ap.parse_args(argv)
    if args.report:
        import gzip

        with gzip.open(args.report, "rt") as f:
            print(markdown(json.load(f)["rows"]))
        return 0
    if args.quick:
        args.test_n, args.val_n = 32, 32
    unknown = [c for c in args.recheck if c not in CHECKS]
    if unknown:
        raise SystemExit(f"--recheck {', '.join(unknown)}: not a check; the checks are: {'; '.join(CHECKS)}")
    entries = discover(args.quick)
    if not entries:
        raise SystemExit("no checkpoints under bench/out: run bench/co_corpus.py --grid answer --keep-checkpoints and "
                         "bench/recipes.py --compare-reference first (bench/README.md)")
    print(f"{len(entries)} checkpoints; test n {args.test_n}, validation n {args.val_n}; {args.workers} workers", flush=True)
    t0 = time.perf_counter()
    if args.partial is None and args.quick:
        import tempfile

        args.partial = str(Path(tempfile.mkdtemp(prefix="masking_panel_quick_")) / "rows.jsonl")
    partial = Path(args.partial or OUT / "masking_panel.partial.jsonl")
    done, val_rows, before = {}, {}, {}
    if partial.exists():
        for line in partial.read_text().splitlines():
            r = json.loads(line)
            if r.get("val_n") != args.val_n:
                continue
            for c in args.recheck:
                old = r["checks"].pop(c, None)
                if old:
                    before[(r["name"], c)] = (old["checked"], old["broken"])
            val_rows[r["name"]] = r  # a new --test-n reuses the validation side, a new check the rest
            complete = set(CHECKS) <= set(r["checks"]) and r.get("panel") is not None
            if complete and (r.get("test_n") == args.test_n or r["name"].startswith("RO ")):
                done[r["name"]] = r
    jobs = [{"entry": e.__dict__, "test_n": args.test_n, "val_n": args.val_n, "prev": val_rows.get(e.name)}
            for e in entries if e.name not in done]
    if done:
        print(f"{len(entries) - len(jobs)} rows taken from {partial}", flush=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as ex, partial.open("a") as f:
        for r in ex.map(measure, jobs):
            done[r["name"]] = {"test_n": args.test_n, **r, "val_n": args.val_n}
            f.write(json.dumps(done[r["name"]]) + "\n")
            f.flush()
    rows = [done[e.name] for e in entries]
    changed = [k for k, v in before.items() if k[0] in done and
               (done[k[0]]["checks"][k[1]]["checked"], done[k[0]]["checks"][k[1]]["broken"]) != v]
    if before:
        print(f"--recheck: {len(before) - len(changed)} of {len(before)} readings repeated their counts exactly"
              + (f"; changed: {changed}" if changed else ""), flush=True)
    for r in rows:
        r.setdefault("train_epoch_s", train_epoch_s(r["path"]))
    print(markdown(rows))
    print(f"\n{time.perf_counter() - t0:.0f} s wall")
    if args.results:
        from bench.traces import pack

        pack([], args.results, "python bench/masking_panel.py " + " ".join(argv or sys.argv[1:]), rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
