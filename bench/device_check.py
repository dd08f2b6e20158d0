"""The science core's GPU table in one prepared run of at most 8 minutes on one H100/H200 (issue 30).

Parts, run in the order a, c, b; each stops at its own time budget, a running total is printed, and the
JSON is rewritten after every part (so a run cut short still leaves what it measured):

  a  images/s and peak GPU memory of RS-FGSM, PGD-10-AT and TRADES training steps on PreActResNet-18 at
     32x32x3, batch 512: the platform's Trainer (bf16 autocast, channels_last, device-resident data, energy
     trace on) without and with DER (λ = 1), against bench/reference_loop.py (fp32, CPU DataLoader with 2
     workers and per-sample transforms, as fast_adversarial / robust_overfitting / TRADES write it), in the
     same run; speed-up = reference time / platform time (the issue's goal: >= 3x), DER overhead = platform
     with DER / without - 1. Budget 150 s.
  c  accuracy: fast_adversarial's CIFAR-10 recipe (search_spaces/recipes/fa_cifar10_fgsm.yaml: RS-FGSM
     α 10/255, ε 8/255, 15 epochs, batch 128, SGD cyclic lr to 0.2) on the bundled CIFAR-10 (all 50,000
     training images, JPEG q75), clean and PGD-20 (step 2/255) on the first 1,000 test images, next to the
     published figure for the same epochs: fast_adversarial's README, FGSM row, 86.06 % clean / 46.06 %
     under PGD-50x10 on the 10,000 exact test images (a stronger attack on other pixels: read the pair as a
     sanity check, not a reproduction). If the first epoch shows the 15 cannot fit, the schedule is
     re-planned to fewer epochs and the table says the figure is not comparable. Budget 170 s.
  b  AutoAttack standard (trainables.attacks.autoattack: fra31's settings) on those 1,000 test images of part c's
     model, in calls of 500 images; the time (a call starts only while it fits). Budget 80 s.
  (d) the figures as one table on stdout and ``device_check.json`` in ``--out``.
Each part gets its budget or what is left before ``--deadline`` (470 s from the start, data staging
included), whichever is less: the run ends by the deadline, give or take one step.

GPU machine (python3 3.12 with torch and CUDA but no pydantic or torchattacks, no network): build the
bundle here first (``make device-bundle``: the missing wheels and CIFAR-10 in .devbundle/, 54 MiB with the
checkout), send it with the checkout (this workplace's device tool: carry [".devbundle"], timeout_s 540),
and run from the repository root (about 7 minutes at most):

    set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site \
      --find-links .devbundle/wheels -r .devbundle/requirements.txt && \
    PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 STUDY_CACHE_DIR=/tmp/sc \
      python3 bench/device_check.py --out "$OUT" 2>&1 | tee "$OUT/device_check.log"

That leaves about 5 of a lease's 15 minutes for a second try, at once (the machine stays warm 30 s, with
/tmp/site and the decoded data still there): the same line with only the parts the first run's JSON
lacks or marks as an error, and a deadline a minute short of the time left, e.g.

    ... python3 bench/device_check.py --out "$OUT" --parts c,b --deadline 250 2>&1 | tee ...

On CPU, every part at tiny sizes (small CNN, a few CIFAR-10 images; under 3 minutes; what the test runs):

    STUDY_DATA_DIR=../shared/data python bench/device_check.py --dry-run --out /tmp/dc
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from device_parts import REPO, Context, Sizes, accuracy, autoattack, throughput  # noqa: E402

ORDER = ("a", "c", "b")
PARTS = {"a": throughput, "b": autoattack, "c": accuracy}
BUNDLE_ZIP = REPO / ".devbundle" / "data" / "cifar10.zip"
GPU = Sizes(device="cuda", model={"name": "preact_resnet18"}, batch=512,
            steps={"rs_fgsm": 48, "pgd10": 16, "trades": 16}, repeats=3, ref_workers=2, acc={},
            test_n=1000, aa_chunk=500, budget={"a": 150.0, "c": 170.0, "b": 80.0}, deadline=470.0)
DRY = Sizes(device="cpu", model={"name": "small_cnn", "width": 8}, batch=32,
            steps={"rs_fgsm": 2, "pgd10": 2, "trades": 2}, repeats=1, ref_workers=0,
            acc={"epochs": 2, "batch_size": 32}, test_n=20, aa_chunk=10,
            budget={"a": 60.0, "c": 40.0, "b": 40.0}, deadline=170.0,
            subset={"train_per_class": 12, "test_per_class": 2})


class Clock:
    """Seconds since the start, the running-total log, and each part's limit: its budget or what is left
    before the deadline, whichever is less."""

    def __init__(self, budget: dict, deadline: float) -> None:
        self.t0, self.budget, self.deadline = time.perf_counter(), budget, deadline
        self.started, self.limit = {}, {}

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def start(self, part: str) -> float:
        """Start ``part``; return its limit in seconds."""
        self.started[part] = self.now()
        self.limit[part] = min(self.budget[part], self.deadline - self.started[part])
        return self.limit[part]

    def left(self, part: str, reserve: float = 0.0) -> float:
        """Seconds left of ``part``'s limit, less ``reserve``."""
        return self.limit[part] - (self.now() - self.started[part]) - reserve

    def fits(self, part: str, estimate: float) -> bool:
        return self.left(part) > estimate

    def log(self, msg: str) -> None:
        print(f"[{self.now():6.1f} s] {msg}", flush=True)


def find_zip(given) -> Path:
    """The CIFAR-10 JPEG zip: ``--data``, else the bundle's, else the shared data's full copy."""
    data = Path(os.environ.get("STUDY_DATA_DIR") or REPO.parent / "shared" / "data")
    for p in ([Path(given)] if given else [BUNDLE_ZIP, data / "cifar-10-jpeg" / "cifar10_jpeg_q75.zip"]):
        if p.is_file():
            return p
    sys.exit(f"no CIFAR-10 zip: give --data, run `make device-bundle`, or set STUDY_DATA_DIR (tried {given or data})")


def stage(zip_path: Path, subset, clock: Clock) -> Path:
    """Unpack (a tiny ``subset`` of) the zip into the imagefolder layout in the cache and decode it once."""
    from device_bundle import subset_zip
    from trainables.schema.config import DataConfig
    from trainables.data import cache_dir, load_arrays, unpack_zip

    base = cache_dir() / "device-check"
    if subset:
        source, zip_path = zip_path, base / "dry-run.zip"
        subset_zip(source, zip_path, **subset)
    dest = base / f"{zip_path.stem}-{zip_path.stat().st_size}"
    counts = unpack_zip(zip_path, dest)
    arrays = load_arrays(DataConfig(name="imagefolder", root=str(dest)))
    clock.log(f"data: {counts['train']:,} train + {counts['test']:,} test images from {zip_path.name}, "
              f"decoded {tuple(arrays.train_x.shape)}")
    return dest


def third_party_imports() -> dict[str, list[str]]:
    """Top-level modules loaded from outside the repository and the standard library, with their distributions:
    what a bare machine must provide (device_bundle.WHEELS covers what the GPU machine lacks)."""
    dists = metadata.packages_distributions()
    out = {}
    for name in sorted({m.split(".")[0] for m in list(sys.modules)}):
        mod = sys.modules.get(name)
        path = Path(getattr(mod, "__file__", None) or "/")
        ours = path.is_relative_to(REPO) and "site-packages" not in path.parts  # the repository's own modules
        if name.startswith("_") or name in sys.stdlib_module_names or ours:
            continue
        if name in dists:
            out[name] = sorted(set(dists[name]))
    return out


def device_info(sizes: Sizes) -> dict:
    import torch

    info = {"torch": torch.__version__, "python": sys.version.split()[0]}
    if sizes.cuda:
        info.update(name=torch.cuda.get_device_name(), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    cudnn_tf32=torch.backends.cudnn.allow_tf32, matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    else:
        info.update(name=f"CPU ({torch.get_num_threads()} threads)")
    return info


def table(rows: list[dict]) -> str:
    head = ("part", "measurement", "platform", "reference / published", "note")
    keys = ("part", "what", "platform", "reference", "note")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "bench" / "out" / "device_check"), help="folder for the JSON")
    ap.add_argument("--parts", default="a,b,c", help="which of a (step speed), b (AutoAttack), c (accuracy)")
    ap.add_argument("--dry-run", action="store_true", help="every part on CPU at tiny sizes (< 3 minutes)")
    ap.add_argument("--deadline", type=float, default=None, help="seconds from the start by which the run ends")
    ap.add_argument("--data", default=None, help="CIFAR-10 JPEG zip (default: the bundle's, else shared data's)")
    args = ap.parse_args(argv)
    parts = [p for p in ORDER if p in args.parts.split(",")]
    sizes = DRY if args.dry_run else GPU
    if args.deadline is not None:
        sizes = dataclasses.replace(sizes, deadline=args.deadline)
    os.environ.setdefault("STUDY_CACHE_DIR", str(Path(tempfile.gettempdir()) / "device-check-cache"))
    import torch

    if sizes.cuda and not torch.cuda.is_available():
        sys.exit("no CUDA device here: the GPU table needs one (on CPU: --dry-run)")
    clock = Clock(sizes.budget, sizes.deadline)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"mode": "dry-run (CPU, tiny sizes)" if args.dry_run else "gpu", "device": device_info(sizes),
              "sizes": dataclasses.asdict(sizes), "parts": {}, "rows": [], "notes": []}
    clock.log(f"device_check {result['mode']} on {result['device']['name']}, torch {result['device']['torch']}; "
              f"parts {','.join(parts)}")

    def save() -> None:
        result["total_s"] = clock.now()
        (out_dir / "device_check.json").write_text(json.dumps(result, indent=1, default=str))

    ctx = Context(sizes, stage(find_zip(args.data), sizes.subset, clock), clock)
    failed = []
    for part in parts:
        if clock.start(part) < 0.2 * sizes.budget[part]:  # too little time left to measure anything
            result["parts"][part] = {"skipped": f"{clock.limit[part]:.0f} s left before the deadline"}
            result["rows"].append({"part": part, "what": "skipped", "note": f"deadline {sizes.deadline:.0f} s"})
            clock.log(f"part {part} skipped: {clock.limit[part]:.0f} s left before the deadline")
            continue
        try:
            figures, rows = PARTS[part](ctx)
        except Exception as e:  # one broken part must not cost the others on a 15-minute machine
            traceback.print_exc()
            failed.append(part)
            figures, rows = {"error": f"{type(e).__name__}: {e}"}, [{"part": part, "what": "error",
                                                                     "note": f"{type(e).__name__}: {e}"[:200]}]
        figures["seconds"] = clock.now() - clock.started[part]
        clock.log(f"part {part} done in {figures['seconds']:.1f} s")
        result["parts"][part], result["rows"] = figures, result["rows"] + rows
        result["notes"] = ctx.notes
        save()
    result["imports"] = third_party_imports()
    save()
    d = result["device"]
    print(f"\n{result['mode']}: {d['name']}, torch {d['torch']}"
          + (f", CUDA {d['cuda']}" if sizes.cuda else "") + f"; total {clock.now():.0f} s\n")
    print(table(sorted(result["rows"], key=lambda r: r["part"])))
    for note in ctx.notes:
        print(f"note: {note}")
    print(f"\nJSON: {out_dir / 'device_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
