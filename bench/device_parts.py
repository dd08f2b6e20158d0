"""The three measurements of ``bench/device_check.py``: step throughput (a), AutoAttack's cost (b), accuracy (c).

Each takes a ``Context`` (sizes, the staged data, the clock) and returns its figures as a dict and its rows
for the table; none runs past its part's budget (``Clock.fits``: a step starts only when its estimated
time still fits). Heavy imports happen inside the functions, so ``device_check --help`` stays instant.
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "search_spaces" / "recipes" / "fa_cifar10_fgsm.yaml"
EPS = 8  # 1/255 units, every part
DER_WEIGHT = 1.0
# part a: the platform's method config and the reference loop's (method, alpha/255, steps) for each row
STEP_METHODS = {
    "rs_fgsm": ({"name": "rs_fgsm", "epsilon": EPS, "alpha": 10}, ("rs_fgsm", 10, 1)),
    "pgd10": ({"name": "pgd", "epsilon": EPS, "steps": 10}, ("pgd", 2, 10)),
    "trades": ({"name": "trades", "epsilon": EPS, "steps": 10}, ("trades", 2, 10)),
}
# fast_adversarial's README table, FGSM row (CIFAR10/train_fgsm.py defaults: 15 epochs, batch 128, cyclic lr
# 0 -> 0.2 -> 0, alpha 10/255, apex O2; that script evaluates with PGD-50 x 10 restarts on the 10,000 test images)
PUBLISHED = {"source": "locuslab/fast_adversarial README.md, FGSM row (CIFAR10/train_fgsm.py defaults)",
             "epochs": 15, "batch_size": 128, "clean_acc": 0.8606, "robust_acc": 0.4606,
             "attack": "PGD-50x10, 10,000 exact CIFAR-10 test images"}


@dataclass(frozen=True)
class Sizes:
    """How big each part is: the GPU run's or the CPU dry run's."""

    device: str
    model: dict
    batch: int  # part a
    steps: dict  # part a: training steps per timed epoch, per method (the reference's loader starts once per epoch)
    repeats: int  # part a: timed epochs per row (median)
    ref_workers: int  # part a: the reference DataLoader's workers (fast_adversarial: 2)
    acc: dict  # part c: overrides of the recipe (epochs, batch_size)
    test_n: int  # part c: test images (clean, PGD-20); part b: AutoAttack images
    aa_chunk: int  # part b: images per AutoAttack call (the budget is checked between calls)
    budget: dict  # seconds per part
    deadline: float  # seconds from the start by which the run ends (a part's budget is cut to it)
    subset: Optional[dict] = None  # dry run: the tiny subset of the zip to stage

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


@dataclass
class Context:
    sizes: Sizes
    root: Path  # the staged imagefolder (train/, test/)
    clock: "Clock"
    model: Optional[torch.nn.Module] = None  # part c's trained net, for part b
    test: Optional[tuple] = None  # (x, y) of the test images on the device
    notes: list = field(default_factory=list)


def run_config(ctx: Context, method: dict, batch: int, train_subset: Optional[int], **over) -> dict:
    """A run config on the staged data, in the platform's GPU setting (bf16, channels_last, data on the device)."""
    s = ctx.sizes
    cfg = {
        "name": "device-check",
        "data": {"name": "imagefolder", "root": str(ctx.root), "train_subset": train_subset, "val_size": 0,
                 "test_subset": s.test_n, "loader": "device"},
        "model": dict(s.model), "method": method,
        "optim": {"lr": 0.01}, "schedule": {"name": "constant"},
        "eval": {"final": False, "probe_size": 64, "probe_pgd_steps": 1, "autoattack": False},
        "epochs": 10 ** 6, "batch_size": batch, "seed": 0, "device": s.device,
        "precision": "bf16" if s.cuda else "fp32", "channels_last": s.cuda, "threads": None if s.cuda else 1,
    }
    for k, v in over.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


def _fresh(cuda: bool) -> None:
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(cuda: bool) -> Optional[float]:
    return torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None


def _timed(clock, part: str, first: Callable[[], float], again: Callable[[], float], repeats: int) -> list[float]:
    """A warm-up run, then up to ``repeats`` timed runs while one more still fits the part's budget."""
    first()
    times: list[float] = []
    while len(times) < repeats and (not times or clock.fits(part, times[-1])):
        times.append(again())
    return times


# ------------------------------------------------------------------------------------------- part a
def throughput(ctx: Context) -> tuple[dict, list[dict]]:
    """Images/s and peak memory per training step: the platform without and with DER, and the reference."""
    from reference_loop import reference_epoch
    from trainables.schema import records as R
    from trainables.schema.config import RunConfig
    from trainables.data import split_data
    from trainables.training.trainer import Trainer

    s, clock = ctx.sizes, ctx.clock
    most = s.batch * max(s.steps.values())
    split = None
    out, rows = {}, []
    for label, (method, (ref_method, ref_alpha, ref_steps)) in STEP_METHODS.items():
        row = out[label] = {"images": s.batch * s.steps[label]}
        n = row["images"]
        for variant, der in (("platform", 0.0), ("platform_der", DER_WEIGHT)):
            if not clock.fits("a", 0):
                row[variant] = {"skipped": "budget"}
                continue
            cfg = RunConfig.model_validate(run_config(ctx, method, s.batch, most, der={"weight": der}))
            split = split if split is not None else split_data(cfg.data)
            _fresh(s.cuda)
            trainer = Trainer(cfg, data=_bundle(cfg, dataclasses.replace(split, train_x=split.train_x[:n],
                                                                         train_y=split.train_y[:n])))
            step = lambda: trainer.train_epoch().metrics[R.TIME_TRAIN]  # noqa: E731
            times = _timed(clock, "a", step, step, s.repeats)
            row[variant] = _speed(n, times, _peak_gib(s.cuda))
            clock.log(f"a  {label:8} {variant:13} {row[variant]['images_per_s']:9,.0f} img/s  {_mem(row[variant])}")
            if variant == "platform":  # the reference starts from the same weights, kept off the device meanwhile
                ref_model = copy.deepcopy(trainer.model).to("cpu", memory_format=torch.contiguous_format)
                x, y = trainer.data.train_images, trainer.data.train_labels
            del trainer
        if "images_per_s" in row.get("platform", {}) and clock.fits("a", 0):
            _fresh(s.cuda)
            ref_model.to(s.device)

            def ref() -> float:
                return reference_epoch(ref_model, x, y, ref_method, EPS / 255, ref_alpha / 255, ref_steps, s.batch,
                                       s.device, augment=True, num_workers=s.ref_workers)["seconds"]

            benchmark = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = False  # the 2020 scripts leave cuDNN's autotuner off (the default)
            try:
                times = _timed(clock, "a", ref, ref, s.repeats)
            finally:
                torch.backends.cudnn.benchmark = benchmark
            row["reference"] = _speed(n, times, _peak_gib(s.cuda))
            clock.log(f"a  {label:8} {'reference':13} {row['reference']['images_per_s']:9,.0f} img/s  "
                      f"{_mem(row['reference'])}")
            del ref_model
        else:
            row["reference"] = {"skipped": "budget"}
        rows += _throughput_rows(label, row)
    out["setting"] = {"batch": s.batch, "model": s.model["name"], "der_weight": DER_WEIGHT,
                      "platform": ("bf16 autocast, channels_last, device-resident data" if s.cuda else "fp32 on CPU")
                      + ", energy trace on; time/train_s of Trainer.train_epoch",
                      "reference": "bench/reference_loop.py: fp32 (torch's default TF32 for cuDNN convolutions: "
                                   f"{torch.backends.cudnn.allow_tf32}), NCHW, cudnn.benchmark off, CPU DataLoader "
                                   f"with per-sample transforms ({s.ref_workers} workers), .item() every step",
                      "statistic": f"median of up to {s.repeats} timed epochs (steps per epoch: {s.steps}) after "
                                   "a warm-up epoch; images/s = training images per second"}
    return out, rows


def _bundle(cfg, split):
    from trainables.data import build_data
    from trainables.training.runtime import Runtime

    rt = Runtime.from_config(cfg)
    return build_data(cfg.data, cfg.batch_size, rt.device, cfg.seed, rt.channels_last, split=split)


def _speed(n: int, times: list[float], peak: Optional[float]) -> dict:
    med = statistics.median(times)
    return {"images_per_s": n / med, "epoch_s": med, "all_s": times, "peak_gib": peak}


def _mem(r: dict) -> str:
    return f"peak {r['peak_gib']:.2f} GiB" if r.get("peak_gib") is not None else ""


def _fmt_ips(r: dict) -> str:
    return f"{r['images_per_s']:,.0f} img/s" if "images_per_s" in r else f"skipped ({r.get('skipped', '?')})"


def _fmt_gib(r: dict) -> str:
    return f"{r['peak_gib']:.2f} GiB" if r.get("peak_gib") is not None else "–"


def _throughput_rows(label: str, row: dict) -> list[dict]:
    p, d, r = row.get("platform", {}), row.get("platform_der", {}), row.get("reference", {})
    ratio = f"speed-up {r['epoch_s'] / p['epoch_s']:.2f}x" if "epoch_s" in p and "epoch_s" in r else "–"
    row["speedup"] = r["epoch_s"] / p["epoch_s"] if "epoch_s" in p and "epoch_s" in r else None
    row["der_overhead"] = d["epoch_s"] / p["epoch_s"] - 1 if "epoch_s" in p and "epoch_s" in d else None
    der = f"DER overhead {row['der_overhead']:+.0%}" if row["der_overhead"] is not None else "–"
    return [
        {"part": "a", "what": f"{label} step, images/s", "platform": _fmt_ips(p), "reference": _fmt_ips(r),
         "note": ratio},
        {"part": "a", "what": f"{label} + DER (λ={DER_WEIGHT:g}), images/s", "platform": _fmt_ips(d),
         "reference": "–", "note": der},
        {"part": "a", "what": f"{label} peak memory", "platform": f"{_fmt_gib(p)} (DER {_fmt_gib(d)})",
         "reference": _fmt_gib(r), "note": ""},
    ]


# ------------------------------------------------------------------------------------------- part c
def accuracy(ctx: Context, epochs: Optional[int] = None, part: str = "c") -> tuple[dict, list[dict]]:
    """fast_adversarial's recipe on the staged CIFAR-10; clean and PGD-20 on the test images at the end.

    After the first epoch the remaining ones are re-planned if they cannot all fit the budget (the cyclic
    schedule then spans the fewer epochs); the table says so, and compares with the published figure only
    when the epochs and batch size are the published ones."""
    import yaml

    from trainables.schema import records as R
    from trainables.schema.config import RunConfig
    from trainables.evaluation.evaluate import robust_accuracy
    from trainables.training.runtime import derive_seed, seed_all
    from trainables.training.schedules import build_schedule
    from trainables.training.trainer import Trainer
    from trainables.evaluation.validation import eval_pgd

    s, clock = ctx.sizes, ctx.clock
    recipe = yaml.safe_load(RECIPE.read_text())
    over = {**s.acc, **({"epochs": epochs} if epochs else {})}
    base = run_config(ctx, recipe["method"], over.get("batch_size", recipe["batch_size"]), None)
    cfg = {**base, "name": recipe["name"], "optim": recipe["optim"], "schedule": recipe["schedule"],
           "epochs": over.get("epochs", recipe["epochs"]),
           "eval": {**base["eval"], "energy_trace": False, "probe_size": 256, "probe_pgd_steps": 10}}
    cfg = RunConfig.model_validate(cfg)
    _fresh(s.cuda)
    trainer = Trainer(cfg)
    planned = epochs_to_run = cfg.epochs
    reserve = 0.05 * s.budget[part]  # the final evaluation
    history = []
    while trainer.epoch < epochs_to_run:
        if history and not clock.fits(part, history[-1]["epoch_s"] + reserve):
            ctx.notes.append(f"{part}: stopped after {trainer.epoch} of {epochs_to_run} epochs (budget)")
            break
        rec = trainer.train_epoch()
        m = rec.metrics
        epoch_s = m[R.TIME_EPOCH]
        history.append({"epoch": rec.epoch, "epoch_s": epoch_s, "lr": m[R.LR], "train_adv_acc": m[R.TRAIN_ADV_ACC],
                        "probe_pgd_acc": m.get(R.PROBE_PGD_ACC)})
        clock.log(f"{part}  epoch {rec.epoch}/{epochs_to_run}  {epoch_s:.1f} s  train adv acc "
                  f"{m[R.TRAIN_ADV_ACC]:.3f}  probe PGD-10 acc {m.get(R.PROBE_PGD_ACC, float('nan')):.3f}")
        if rec.epoch == 1 and epochs_to_run > 1:
            fit = 1 + int(clock.left(part, reserve) // epoch_s)
            if fit < epochs_to_run:
                epochs_to_run = max(1, fit)
                trainer.schedule = build_schedule(cfg.schedule, cfg.optim.with_defaults().lr, epochs_to_run)
                ctx.notes.append(f"{part}: re-planned to {epochs_to_run} of {planned} epochs after epoch 1 "
                                 f"({epoch_s:.1f} s); the cyclic schedule spans {epochs_to_run}")
    model = trainer.model
    batches = list(trainer.data.test_batches(256))
    clean = robust_accuracy(model, batches)["clean_acc"]
    seed_all(derive_seed(cfg.seed, "test", 20, 1))
    pgd = robust_accuracy(model, batches, eval_pgd(cfg, 20, 1, trainer.eval_autocast, test=True))["adv_acc"]
    clock.log(f"{part}  test clean {clean:.4f}  PGD-20 {pgd:.4f}  on {trainer.data.num_test} images")
    ctx.model = model
    ctx.test = (torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]))
    same = trainer.epoch == PUBLISHED["epochs"] and cfg.batch_size == PUBLISHED["batch_size"]
    out = {"recipe": str(RECIPE.relative_to(REPO)), "epochs_planned": planned, "epochs_run": trainer.epoch,
           "batch_size": cfg.batch_size, "train_images": trainer.data.num_train, "test_images": trainer.data.num_test,
           "clean_acc": clean, "pgd20_acc": pgd, "history": history, "published": PUBLISHED,
           "published_comparable": same, "train_s": sum(h["epoch_s"] for h in history)}
    pub = (f"{PUBLISHED['clean_acc']:.4f} / {PUBLISHED['robust_acc']:.4f} ({PUBLISHED['attack']}; "
           f"{PUBLISHED['epochs']} epochs{'' if same else ': not the epochs run here'})")
    rows = [{"part": "c", "what": f"RS-FGSM α=10/255 ε=8/255, {trainer.epoch} epochs × {trainer.data.num_train:,} "
                                  f"images, batch {cfg.batch_size}: clean / PGD-20 ({trainer.data.num_test:,} test)",
             "platform": f"{clean:.4f} / {pgd:.4f}", "reference": pub,
             "note": f"{out['train_s']:.0f} s training"}]
    return out, rows


# ------------------------------------------------------------------------------------------- part b
def autoattack(ctx: Context) -> tuple[dict, list[dict]]:
    """AutoAttack standard (trainables.attacks.autoattack, fra31's settings) on the test images of part c's model,
    ``aa_chunk`` images per call; a call starts only while its estimated time fits the budget."""
    import time

    from trainables.attacks.autoattack import autoattack_accuracy

    s, clock = ctx.sizes, ctx.clock
    if ctx.model is None:  # b alone: a briefly trained net (1 epoch of the recipe) is enough to time it
        accuracy(ctx, epochs=1, part="b")
    x, y = ctx.test
    n_all, done, robust, seconds, last = len(y), 0, 0.0, 0.0, 0.0
    while done < n_all and (done == 0 or clock.fits("b", last)):
        xb, yb = x[done:done + s.aa_chunk], y[done:done + s.aa_chunk]
        t0 = time.perf_counter()
        acc = autoattack_accuracy(ctx.model, xb, yb, EPS / 255, "linf", 10, len(yb), seed=0, version="standard")
        if s.cuda:
            torch.cuda.synchronize()
        last = time.perf_counter() - t0
        seconds += last
        robust += acc * len(yb)
        done += len(yb)
        clock.log(f"b  AutoAttack {done}/{n_all} images  {seconds:.1f} s  robust acc so far {robust / done:.4f}")
    per_1000 = seconds / done * 1000
    out = {"images": done, "of": n_all, "seconds": seconds, "seconds_per_1000": per_1000, "robust_acc": robust / done,
           "version": "standard (APGD-CE, APGD-T, FAB-T at 100 iterations, Square 5,000 queries)",
           "chunk": s.aa_chunk}
    note = "" if done == n_all else f"stopped at budget; {per_1000:.0f} s per 1,000 extrapolated"
    rows = [{"part": "b", "what": f"AutoAttack standard, {done:,} test images (ε=8/255)",
             "platform": f"{seconds:.1f} s", "reference": "–",
             "note": f"robust acc {robust / done:.4f}" + (f"; {note}" if note else "")}]
    return out, rows
