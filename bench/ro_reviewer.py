"""The "RO at reviewer strength" parts of ``bench/ro_study.py`` (issue 28): per-image test evaluation of every
run right after its training, and the headline table with paired bootstrap intervals over images and seeds.

Test evaluation (``test_one``) repeats ``Trainer.final_eval`` (the same attacks, seeds and images, so the
accuracies are the ones it would print) and also keeps, per test image, whether it was classified correctly:
clean, under each PGD-k×r, and under AutoAttack (on its first ``eval.autoattack_n`` images), for the best
(validation-selected) and the last checkpoint. The bits are strings of 0/1, image i at position i; they are
written to ``test_per_image.json`` in the run's folder, and a rerun with the same data and eval settings reads
them back instead of attacking again.

Headline (``headline_markdown``): per cell, AutoAttack accuracy of the best and the last checkpoint and their gap
best − last; the gap of PGD-50×10; the differences to the baseline cell, last to last, best to best, and this
cell's last to the baseline's best (PGD-AT with validation early stopping, the usual answer to RO); and how many
seeds ended as a constant classifier (validation clean accuracy within the degenerate rule's margin of the majority
class: ΔE ≡ 0 is DER's trivial minimiser), whose "gap" is no robust overfitting. Intervals are 95 % percentile
bootstrap intervals, resampling seeds and test images together (the same resampled images for every seed and
both checkpoints / both cells: paired). With ``--split-per-seed`` a seed also fixes the training subset and
the validation split, so two cells' runs of one seed share their data and are paired by seed too.
The regularised baseline: of the ``PGD-AT wd X`` cells, the one whose last-epoch training robust accuracy (mean
over seeds) is nearest the matched DER cell's (``--match-cell``, default DER 10); no test figure is used.
"""
from __future__ import annotations

import copy
import json
import math
import statistics
import zlib
from pathlib import Path

import numpy as np

PER_IMAGE_FILE, PARTIAL_FILE = "test_per_image.json", "test_per_image.partial.json"
B, SEED = 2000, 0


def bits(mask) -> str:
    return "".join("1" if b else "0" for b in mask.tolist())


def unbits(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8) - ord("0")


def _per_image_eval(trainer, done: dict | None = None, on_part=None) -> tuple[dict, dict]:
    """``Trainer.final_eval``'s figures, and the per-image correctness behind them. A checkpoint's part ("best",
    "last") in ``done`` (which -> (figures, bits)) is taken as it is; ``on_part(which, figures, bits)`` is called as
    each part is read. The parts are independent (every attack seeds itself: PGD per (steps, restarts) here,
    APGD, FAB and Square in each call), so a reading resumed after its first part equals an uninterrupted one."""
    import torch
    from trainables.schema import records as R
    from trainables.attacks.autoattack import VERSIONS
    from trainables.evaluation.evaluate import _logits, robust_accuracy
    from trainables.training.runtime import derive_seed, seed_all
    from trainables.evaluation.validation import eval_pgd

    cfg, out, per, done = trainer.cfg, {}, {}, done or {}
    candidates = {"last": trainer.model.state_dict()}
    if trainer.best_state is not None:
        candidates["best"] = trainer.best_state
    model = copy.deepcopy(trainer.model)
    batches = list(trainer.data.test_batches(cfg.eval.batch_size))
    n_test = sum(len(b[1]) for b in batches)
    for which, state in candidates.items():
        if which in done:
            out.update(done[which][0])
            per.update(done[which][1])
            continue
        o, b = {}, {}
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            clean = torch.cat([_logits(model, x, trainer.eval_autocast).argmax(1) == y for x, y in batches])
        o[R.test_key(which, "clean_acc")], b[f"{which}/clean"] = clean.sum().item() / len(clean), bits(clean)
        for steps, restarts in cfg.eval.test_pgd:
            seed_all(derive_seed(cfg.seed, "test", steps, restarts))
            r = robust_accuracy(model, batches, eval_pgd(cfg, steps, restarts, trainer.eval_autocast, test=True),
                                trainer.eval_autocast, keep_first=n_test)
            o[R.test_key(which, f"pgd{steps}x{restarts}_acc")] = r["adv_acc"]
            b[f"{which}/pgd{steps}x{restarts}"] = bits(r["robust_mask"])
        if cfg.eval.autoattack:  # trainables.attacks.autoattack.autoattack_accuracy, keeping each image's outcome
            import torchattacks as ta

            n, version = cfg.eval.autoattack_n, cfg.eval.autoattack_version
            x, y = torch.cat([b[0] for b in batches])[:n], torch.cat([b[1] for b in batches])[:n]
            attack = ta.MultiAttack(VERSIONS[version].components(
                model, {"linf": "Linf", "l2": "L2"}[cfg.eval_norm.lower()], cfg.eval_epsilon / 255,
                trainer.data.num_classes, cfg.seed))
            ok = []
            for i in range(0, len(y), cfg.eval.batch_size):
                xb, yb = x[i:i + cfg.eval.batch_size], y[i:i + cfg.eval.batch_size]
                x_adv = attack(xb, yb)
                with torch.no_grad():
                    ok.append(model(x_adv).argmax(1) == yb)
            ok = torch.cat(ok)
            o[R.test_key(which, VERSIONS[version].metric)] = ok.sum().item() / max(len(ok), 1)
            b[f"{which}/autoattack"] = bits(ok)
        out.update(o)
        per.update(b)
        if on_part:
            on_part(which, o, b)
    out[R.test_key("best", "epoch")] = float(trainer.best_epoch)
    return out, per


def _test_side(ev: dict | None) -> dict | None:
    """The eval settings a test reading depends on: all but the per-epoch masking check, which picks the best
    epoch during training (its checkpoint is already on disk) and does not enter the test attacks."""
    return _without(ev, ("masking",))


def _data_side(data: dict | None) -> dict | None:
    """The data settings a test reading depends on: not where the files lie (a grid restored on another machine
    reads them from its own cache) nor how they are loaded."""
    return _without(data, ("root", "download", "num_workers", "loader"))


def _without(d: dict | None, keys: tuple[str, ...]) -> dict | None:
    return None if d is None else {k: v for k, v in d.items() if k not in keys}


def test_one(job: dict) -> dict:
    """Test evaluation of a trained run, per image; read back from its folder when done before. Each checkpoint's
    part is kept as it is read (``PARTIAL_FILE``), so a reading stopped by a session's end goes on from there."""
    import time

    from trainables.schema.config import RunConfig
    from trainables.training.fit import CKPT_DIR
    from trainables.training.trainer import Trainer

    path, partial = Path(job["workdir"]) / PER_IMAGE_FILE, Path(job["workdir"]) / PARTIAL_FILE

    def same(saved):
        return (_test_side(saved.get("eval")) == _test_side(job["config"]["eval"])
                and _data_side(saved.get("data")) == _data_side(job["config"]["data"]))

    if path.exists():
        saved = json.loads(path.read_text())
        if same(saved):
            return {**job, "final": saved["final"], "per_image": saved["per_image"], "final_wall_s": saved["wall_s"]}
    parts = {}  # a reading stopped after one checkpoint's part (a session's end) goes on from the other
    if partial.exists():
        saved = json.loads(partial.read_text())
        parts = saved["parts"] if same(saved) else {}
    t_part = time.perf_counter()

    def keep(which, figures, per_bits):
        nonlocal t_part
        parts[which] = {"figures": figures, "bits": per_bits, "wall_s": time.perf_counter() - t_part}
        t_part = time.perf_counter()
        _write(partial, {"eval": job["config"]["eval"], "data": job["config"]["data"], "parts": parts})

    cfg = RunConfig.model_validate(job["config"])
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"final": True})})
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    trainer.load(Path(job["workdir"]) / CKPT_DIR, resume=False)  # weights for a test reading, no training
    earlier = sum(v["wall_s"] for v in parts.values())
    final, per = _per_image_eval(trainer, {w: (v["figures"], v["bits"]) for w, v in parts.items()}, keep)
    wall = time.perf_counter() - t0 + earlier
    _write(path, {"eval": job["config"]["eval"], "data": job["config"]["data"], "final": final, "per_image": per,
                  "wall_s": wall})
    partial.unlink(missing_ok=True)
    return {**job, "final": final, "per_image": per, "final_wall_s": wall}


def _write(path: Path, body: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


# ---------------------------------------------------------------- headline table

def _matrix(finals: list[dict], ds: str, cell: str, key: str) -> dict[int, np.ndarray]:
    """seed -> per-image 0/1 of ``key`` (e.g. ``best/autoattack``) for one cell."""
    return {r["seed"]: unbits(r["per_image"][key]) for r in finals
            if (r["dataset"], r["cell"]) == (ds, cell) and key in r.get("per_image", {})}


def boot(d: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Mean of ``d`` (seeds × images) and its 95 % bootstrap interval, seeds and images resampled together."""
    s, n = d.shape
    ws = rng.multinomial(s, [1 / s] * s, size=B).astype(float)  # seed weights per replicate
    wi = rng.multinomial(n, [1 / n] * n, size=B).astype(float)  # image weights per replicate
    reps = np.einsum("bs,sn,bn->b", ws, d.astype(float), wi) / (s * n)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def stream(*names: str) -> np.random.Generator:
    """The bootstrap's random stream for one comparison, named by what it compares: an interval depends only on
    its own readings, so it does not move when another cell's runs are added to the table."""
    return np.random.default_rng([SEED, zlib.crc32("|".join(names).encode())])


def diff(a: dict, b: dict, rng) -> tuple[float, float, float, int] | None:
    """Paired a − b over the seeds both have (same images)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    if len({len(a[s]) for s in seeds} | {len(b[s]) for s in seeds}) > 1:
        raise ValueError("paired readings of different numbers of test images (was --aa-n changed within the grid?)")
    d = np.stack([a[s].astype(np.int8) - b[s].astype(np.int8) for s in seeds])
    return (*boot(d, rng), len(seeds))


def _ci(x) -> str:
    if x is None:
        return "–"
    m, lo, hi, _ = x
    return f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def matched_wd(results: list[dict], ds: str, match_cell: str) -> str | None:
    """The ``PGD-AT wd`` cell whose mean last-epoch training robust accuracy is nearest ``match_cell``'s, both
    averaged over the seeds every weight-decay cell has (``--wd-pick-seeds``: later seeds run only the pick, so
    the pick is judged on the seeds it was made on and does not move as they arrive)."""
    from trainables.schema import records as R

    runs = [r for r in results if r["dataset"] == ds]
    wds = [c for c in dict.fromkeys(r["cell"] for r in runs) if c.startswith("PGD-AT wd")]
    seeds = set.intersection(*[{r["seed"] for r in runs if r["cell"] == c} for c in wds]) if wds else set()

    def train_adv(cell):
        xs = [r["records"][-1][R.TRAIN_ADV_ACC] for r in runs if r["cell"] == cell and r["seed"] in seeds
              and r["records"]]
        return statistics.mean(xs) if xs else math.nan

    target = train_adv(match_cell)
    wds = [c for c in wds if math.isfinite(train_adv(c))]
    if not wds or not math.isfinite(target):
        return None
    return min(wds, key=lambda c: abs(train_adv(c) - target))


def headline_markdown(results: list[dict], finals: list[dict], match_cell: str = "DER 10", base: str = "PGD-AT") -> str:
    """AutoAttack best / last / gap per cell with paired bootstrap intervals (see the module doc), as markdown
    (bench/replay.py checks it against bench/README.md)."""
    from trainables.schema import records as R

    from study.stopping.rules import Degenerate

    margin = Degenerate.model_fields["margin"].default

    def constant(ds, cell, seeds) -> int:  # of these seeds, those whose last epoch is a constant classifier, by the
        # platform's degenerate rule (a record without the chance level, from before it was kept, counts as not)
        last = [r["records"][-1] for r in results if (r["dataset"], r["cell"]) == (ds, cell) and r["seed"] in seeds
                and r["records"]]
        return sum(1 for x in last if R.VAL_CHANCE_ACC in x and x[R.VAL_CLEAN_ACC] <= x[R.VAL_CHANCE_ACC] + margin)

    finals = [f for f in finals if f.get("per_image")]
    out: list[str] = []
    emit = out.append
    pgd = sorted({k.split("/")[1] for f in finals for k in f["per_image"] if "/pgd" in k})[:1]
    for ds in dict.fromkeys(f["dataset"] for f in finals):
        wd = matched_wd(results, ds, match_cell)
        emit(f"\n{ds}: test, AutoAttack (standard) and {pgd[0] if pgd else 'PGD'} per image; mean over seeds and "
             f"images [95 % bootstrap over images and seeds, B = {B}], in %. Regularised baseline: {wd or '–'} "
             f"(training robust accuracy nearest {match_cell}'s)\n")
        emit(f"| cell | seeds | constant at the end | train adv acc last | AA best | AA last | **AA gap best − last** "
             f"| {pgd[0] if pgd else ''} gap | AA last − {base} | AA best − {base} | AA last − {base} best "
             f"| AA last − {match_cell} |")
        emit("|---" * 12 + "|")
        for cell in dict.fromkeys(f["cell"] for f in finals if f["dataset"] == ds):
            best, last = _matrix(finals, ds, cell, "best/autoattack"), _matrix(finals, ds, cell, "last/autoattack")
            if not best:
                continue
            tr = [r["records"][-1][R.TRAIN_ADV_ACC] for r in results
                  if (r["dataset"], r["cell"]) == (ds, cell) and r["seed"] in best and r["records"]]
            pb = _matrix(finals, ds, cell, f"best/{pgd[0]}") if pgd else {}
            pl = _matrix(finals, ds, cell, f"last/{pgd[0]}") if pgd else {}
            acc = lambda m: f"{100 * np.mean([v.mean() for v in m.values()]):.1f}"  # noqa: E731
            vs = lambda key, other: diff(_matrix(finals, ds, cell, key), _matrix(finals, ds, other, key),
                                         stream(ds, cell, key, other, key)) if other != cell else None  # noqa: E731
            cross = lambda m, other: diff(m, _matrix(finals, ds, other, "best/autoattack"),
                                          stream(ds, cell, "last/autoattack", other, "best/autoattack")) \
                if other != cell else None  # noqa: E731  (this cell's last vs the other's early-stopped best)
            gap = lambda b, l, key: diff(b, l, stream(ds, cell, f"best/{key}", cell, f"last/{key}"))  # noqa: E731
            name = cell + (" (matched)" if cell == wd else "")
            train = f"{100 * statistics.mean(tr):.1f}" if tr else "–"
            emit(f"| {name} | {len(best)} | {constant(ds, cell, set(best))} | {train} | {acc(best)} | {acc(last)} "
                 f"| **{_ci(gap(best, last, 'autoattack'))}** | {_ci(gap(pb, pl, pgd[0] if pgd else 'pgd'))} "
                 f"| {_ci(vs('last/autoattack', base))} | {_ci(vs('best/autoattack', base))} "
                 f"| {_ci(cross(last, base))} "
                 f"| {_ci(vs('last/autoattack', match_cell))} |")
    return "\n".join(out).strip()


def print_headline(results: list[dict], finals: list[dict], match_cell: str = "DER 10", base: str = "PGD-AT") -> None:
    text = headline_markdown(results, finals, match_cell, base)
    if text:
        print("\n" + text)
