"""Training-step throughput: the platform's adversarial-training epoch vs the 2020-style reference loop.

Same model, batch, data (CIFAR-10 JPEG copy) and method; the two are alternated within one run and
the median of ``--repeats`` epochs is reported. Image-passes/s counts forward+backward passes per
training image: 2 for FGSM-type steps, k + 1 for PGD-k. Ours includes the energy trace (as a study
runs it); the reference logs with per-step host syncs as the 2020 code did. On CUDA, ours also uses
bf16 autocast, channels_last and the device-resident loader (``--compile`` adds torch.compile), and
``--memory`` reports peak GPU memory per trial at batch 128 and 512 (to size fractional GPUs).

    python bench/throughput.py                                   # CPU, small CNN
    python bench/throughput.py --device cuda --model preact_resnet18 --images 10000 --memory
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from reference_loop import reference_epoch  # noqa: E402

METHODS = {"fgsm": ("fgsm", 1), "n_fgsm": ("n_fgsm", 1), "pgd10": ("pgd", 10)}


def cifar_root(args) -> str:
    from trainables.data import cache_dir, unpack_zip

    dest = cache_dir() / "cifar10-jpeg"
    unpack_zip(Path(args.data_dir) / "cifar-10-jpeg" / "cifar10_jpeg_q75.zip", dest)
    return str(dest)


def our_config(args, root: str, method: str, batch: int) -> dict:
    cuda = args.device == "cuda"
    return {
        "data": {"name": "imagefolder", "root": root, "train_subset": args.images, "val_size": 0,
                 "loader": "device" if cuda else "torch"},
        "model": {"name": args.model},
        "method": {"name": method, "epsilon": 8},
        "optim": {"lr": 0.01}, "schedule": {"name": "constant"},
        "eval": {"final": False, "probe_size": 32, "probe_pgd_steps": 1},
        "epochs": 10 ** 6, "batch_size": batch, "seed": 0, "device": args.device,
        "precision": "bf16" if cuda else "fp32", "channels_last": cuda, "compile": args.compile,
        "threads": args.threads,
    }


def measure(args, root: str, label: str, method: str, steps: int) -> dict:
    from trainables.schema.config import RunConfig
    from trainables.training.trainer import Trainer

    trainer = Trainer(RunConfig.model_validate(our_config(args, root, method, args.batch)))
    ref_model = copy.deepcopy(trainer.model).to(memory_format=torch.contiguous_format)
    x, y = trainer.data.train_images, trainer.data.train_labels
    eps, alpha = 8 / 255, (8 / 255 if method != "pgd" else 2 / 255)
    ours, ref = [], []
    trainer.train_epoch()  # warm-up (allocator, cudnn autotune, compile)
    for _ in range(args.repeats):
        rec = trainer.train_epoch()
        ours.append(rec.metrics["time/train_s"])
        r = reference_epoch(ref_model, x, y, method, eps, alpha, steps, args.batch, args.device,
                            augment=True, num_workers=args.ref_workers)
        ref.append(r["seconds"])
    n = len(y)
    o, f = statistics.median(ours), statistics.median(ref)
    return {"method": label, "images": n, "passes_per_image": steps + 1, "ours_epoch_s": o, "ref_epoch_s": f,
            "ours_images_per_s": n / o, "ref_images_per_s": n / f, "ours_passes_per_s": n * (steps + 1) / o,
            "ref_passes_per_s": n * (steps + 1) / f, "speedup": f / o, "ours_all_s": ours, "ref_all_s": ref}


def peak_memory(args, root: str) -> list[dict]:
    from trainables.schema.config import RunConfig
    from trainables.training.trainer import Trainer

    out = []
    for batch in (128, 512):
        for label, (method, _) in METHODS.items():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            cfg = our_config(args, root, method, batch)
            cfg["data"]["train_subset"] = batch * 4
            trainer = Trainer(RunConfig.model_validate(cfg))
            trainer.train_epoch()
            out.append({"batch": batch, "method": label, "peak_gib": torch.cuda.max_memory_allocated() / 2 ** 30})
            del trainer
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--model", default=None, help="default: small_cnn on CPU, preact_resnet18 on CUDA")
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--methods", default="fgsm,n_fgsm,pgd10", type=lambda s: s.split(","))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ref-workers", type=int, default=2, help="reference DataLoader workers (fast_adversarial: 2)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--data-dir", default=str(Path(__file__).parents[2] / "shared" / "data"))
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "throughput.json"))
    args = ap.parse_args(argv)
    args.model = args.model or ("preact_resnet18" if args.device == "cuda" else "small_cnn")
    import os

    args.data_dir = os.environ.get("STUDY_DATA_DIR", args.data_dir)
    root = cifar_root(args)
    rows = [measure(args, root, m, *METHODS[m]) for m in args.methods]
    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\n{args.model}, batch {args.batch}, {rows[0]['images']} CIFAR-10 images, {dev}, median of {args.repeats}")
    print(f"{'method':8} {'ours s/ep':>9} {'ref s/ep':>9} {'ours img/s':>10} {'ref img/s':>10} "
          f"{'ours pass/s':>11} {'ref pass/s':>10} {'speedup':>7}")
    for r in rows:
        print(f"{r['method']:8} {r['ours_epoch_s']:9.2f} {r['ref_epoch_s']:9.2f} {r['ours_images_per_s']:10.0f} "
              f"{r['ref_images_per_s']:10.0f} {r['ours_passes_per_s']:11.0f} {r['ref_passes_per_s']:10.0f} "
              f"{r['speedup']:7.2f}x")
    result = {"device": dev, "model": args.model, "batch": args.batch, "rows": rows}
    if args.memory and args.device == "cuda":
        result["peak_memory"] = peak_memory(args, root)
        for m in result["peak_memory"]:
            print(f"peak GPU memory, batch {m['batch']}, {m['method']}: {m['peak_gib']:.2f} GiB")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({r["method"]: round(r["speedup"], 3) for r in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
