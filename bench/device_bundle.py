"""``make device-bundle``: what ``bench/device_check.py`` needs on a bare GPU machine, in one git-ignored folder.

The GPU machines this project can expect reach no network and bring their own python3 (3.12.3, torch 2.11
with CUDA, torchvision, numpy, scipy, pillow, pyyaml, typer, rich, pytest, ...: ``DEVICE_HAS``) but not the
rest of the science core's import closure. The bundle holds

* ``wheels/``: the missing distributions (``WHEELS``), pinned to the versions installed here (the tested
  ones), for CPython ``--python-version`` on manylinux x86-64, with ``requirements.txt`` naming them;
* ``data/cifar10.zip``: the CIFAR-10 JPEG copy cut to ``--train-per-class`` images of each class and the
  first ``--test-first`` official test images (what AutoAttack and RobustBench evaluate), stored, not
  recompressed, in the imagefolder layout ``unpack_zip`` reads;
* ``MANIFEST.json``: sources, counts, sizes.

The checkout (tracked and untracked-not-ignored files) and the bundle travel together under a 64 MiB limit;
the total is printed and the command fails above it. ``WHEELS`` is checked against what the dry run imports
(tests/bench/test_device_check.py), so a new dependency of the science core cannot go missing unnoticed.

    python bench/device_bundle.py --dest .devbundle          # what `make device-bundle` runs
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT = 64 * 2**20  # what may travel to the GPU machine: the checkout plus carried folders
ZIP_NAME = "cifar10_jpeg_q75.zip"
# Distributions the science core imports for device_check.py (its dry run records them) that the GPU machine
# lacks. typing-extensions is there, but pydantic 2.14 needs >= 4.16 and the machine's version is not known.
# platformdirs is not needed: trainables reads it only without $STUDY_CACHE_DIR, which device_check sets.
WHEELS = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "torchattacks")
# The GPU machine's python3 packages, as its package list read in 2026-11 (python 3.12.3, torch 2.11.0).
DEVICE_HAS = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def normalize(dist: str) -> str:
    """A distribution name as pip compares them (PEP 503): lower case, runs of -_. as one '-'."""
    import re

    return re.sub(r"[-_.]+", "-", dist).lower()


def download_wheels(dest: Path, python_version: str, dists=WHEELS) -> list[Path]:
    """``pip download`` each of ``dists`` at the version installed here, as binary wheels for the machine."""
    dest.mkdir(parents=True, exist_ok=True)
    pins = [f"{d}=={metadata.version(d)}" for d in dists]
    abi = "cp" + python_version.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           python_version, "--implementation", "cp", "--abi", abi, "--abi", "none", "--abi", "abi3",
           *(a for p in PLATFORMS for a in ("--platform", p)), "-d", str(dest), *pins]
    subprocess.run(cmd, check=True)
    keep = {normalize(p.split("==")[0]) + "-" + p.split("==")[1] for p in pins}
    wheels = []
    for w in sorted(dest.glob("*.whl")):  # one version of each: two would stop the install there
        name, version = w.name.split("-")[:2]
        if f"{normalize(name)}-{version}" in keep:
            wheels.append(w)
        else:
            w.unlink()
    (dest.parent / "requirements.txt").write_text("".join(p + "\n" for p in pins))
    return wheels


def select_members(names: list[str], train_per_class: int | None = None, test_first: int | None = None,
                   index_csv: Path | None = None, test_per_class: int | None = None) -> list[str]:
    """The zip members of a subset: the first ``train_per_class`` images of each class (a class's k-th member,
    ``<k:04d>.jpg``, is its k-th image in official order) and either the first ``test_first`` official test
    images (``index_csv`` says which) or the first ``test_per_class`` of each class. None: the whole split."""
    if test_first is not None and index_csv is None:
        raise ValueError("test_first needs index_csv (the official order of the test images)")
    test_paths = None
    if test_first is not None:
        with open(index_csv, newline="") as f:
            test_paths = {r["path"] for r in csv.DictReader(f) if r["split"] == "test" and int(r["index"]) < test_first}
    out = []
    for name in names:
        parts = name.split("/")
        if len(parts) < 3 or parts[-3] not in ("train", "test") or not parts[-1] or parts[-1].startswith("."):
            continue
        split, stem = parts[-3], Path(parts[-1]).stem
        k = int(stem) if stem.isdigit() else None
        cap = train_per_class if split == "train" else test_per_class
        if split == "test" and test_paths is not None:
            ok = "/".join(parts[-3:]) in test_paths
        else:
            ok = cap is None or (k is not None and k < cap)
        if ok:
            out.append(name)
    return out


def subset_zip(src: Path, dest: Path, **select) -> dict[str, int]:
    """Write the members ``select_members`` picks from ``src`` to ``dest`` (stored, bytes unchanged,
    as ``<split>/<class>/<file>``); return the count per split."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "test": 0}
    tmp = dest.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zout:
        for name in select_members(zin.namelist(), **select):
            rel = "/".join(name.split("/")[-3:])
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            zout.writestr(info, zin.read(name), compress_type=zipfile.ZIP_STORED)
            counts[rel.split("/")[0]] += 1
    os.replace(tmp, dest)
    return counts


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def checkout_bytes(repo: Path = REPO) -> int:
    """What travels of the checkout: tracked files and untracked files git does not ignore."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode()
    return sum((repo / f).stat().st_size for f in set(out.split("\0")) if f and (repo / f).is_file())


def default_data_dir() -> Path:
    return Path(os.environ.get("STUDY_DATA_DIR") or REPO.parent / "shared" / "data")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", default=str(REPO / ".devbundle"))
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's python3 (3.12.3 there)")
    ap.add_argument("--train-per-class", type=int, default=5000, help="5000: all 50,000 training images")
    ap.add_argument("--test-first", type=int, default=1000, help="the first N official test images")
    ap.add_argument("--data-dir", default=str(default_data_dir()), help="shared data (cifar-10-jpeg/ in it)")
    args = ap.parse_args(argv)
    dest, data = Path(args.dest), Path(args.data_dir) / "cifar-10-jpeg"
    wheels = download_wheels(dest / "wheels", args.python_version)
    counts = subset_zip(data / ZIP_NAME, dest / "data" / "cifar10.zip", train_per_class=args.train_per_class,
                        test_first=args.test_first, index_csv=data / "index.csv")
    manifest = {
        "python_version": args.python_version, "wheels": [w.name for w in wheels],
        "data": {"file": "data/cifar10.zip", "source": str(data / ZIP_NAME), "train_per_class": args.train_per_class,
                 "test_first": args.test_first, "images": counts,
                 "note": "CIFAR-10 JPEG quality 75 (lossy: shared/data/PROVENANCE.md), stored bytes unchanged"},
    }
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
    bundle, checkout = folder_bytes(dest), checkout_bytes()
    mib = lambda b: b / 2**20  # noqa: E731
    for w in wheels:
        print(f"  wheel  {w.name}  {mib(w.stat().st_size):.2f} MiB")
    print(f"  data   {counts['train']:,} train + {counts['test']:,} test images  "
          f"{mib((dest / 'data' / 'cifar10.zip').stat().st_size):.2f} MiB")
    total = bundle + checkout
    print(f"{dest}: {mib(bundle):.1f} MiB; checkout {mib(checkout):.1f} MiB; together {mib(total):.1f} MiB "
          f"of {mib(LIMIT):.0f} MiB")
    if total > LIMIT:
        print(f"too large to travel: lower --train-per-class (now {args.train_per_class})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
