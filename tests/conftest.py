"""Session fixtures: an isolated cache, no network, and the real data of shared/data (never written to)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# pytest puts tests/ on sys.path for this conftest; tests/trainables/ would then shadow the real
# `trainables` as a namespace package unless the repository root is on the path too.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
CIFAR_ZIP = Path("cifar-10-jpeg") / "cifar10_jpeg_q75.zip"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Tests write to a session tmp cache, never to the user's, and never download anything."""
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("study-cache")
    mp.setenv("STUDY_CACHE_DIR", str(cache))
    mp.setenv("STUDY_OFFLINE", "1")
    yield cache
    mp.undo()
    shutil.rmtree(cache, ignore_errors=True)  # decoded datasets are large: don't keep them for pytest's 3 sessions


def _missing(what: str) -> None:
    msg = f"{what} not found; set STUDY_DATA_DIR to the shared data folder (see shared/data/PROVENANCE.md)"
    if os.environ.get("STUDY_REQUIRE_DATA") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real, read-only data: ``$STUDY_DATA_DIR``, else ``<repo>/../shared/data``."""
    env = os.environ.get("STUDY_DATA_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        _missing(f"shared data dir {path}")
    return path


@pytest.fixture(scope="session")
def data_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable root holding copies of the MNIST and Fashion-MNIST gz files (torchvision layout)."""
    root = tmp_path_factory.mktemp("data-root")
    for src, cls in ((shared_data / "MNIST" / "raw", "MNIST"), (shared_data / "fashion-mnist" / "FashionMNIST" / "raw", "FashionMNIST")):
        gz = sorted(src.glob("*.gz"))
        if len(gz) != 4:
            _missing(f"the 4 {cls} gz files in {src}")
        dest = root / cls / "raw"
        dest.mkdir(parents=True)
        for f in gz:
            shutil.copyfile(f, dest / f.name)
    return root


@pytest.fixture(scope="session")
def cifar_zip(shared_data: Path) -> Path:
    path = shared_data / CIFAR_ZIP
    if not path.is_file():
        _missing(f"CIFAR-10 JPEG zip {path}")
    return path


@pytest.fixture(scope="session")
def cifar_folder(cifar_zip: Path, tmp_path_factory: pytest.TempPathFactory):
    """The CIFAR-10 JPEG zip unpacked once per session into the imagefolder layout."""
    from trainables.data.unpack import unpack_zip

    dest = _fast_tmp_dir(tmp_path_factory, "cifar10-jpeg")
    unpack_zip(cifar_zip, dest)
    yield dest
    shutil.rmtree(dest, ignore_errors=True)  # 60,000 files


def _fast_tmp_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh dir in RAM (/dev/shm) when there is room: creating 60,000 small files there takes a
    second, against 5-40 s on a busy disk. Falls back to pytest's tmp dir."""
    import tempfile

    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 2**30:
            return Path(tempfile.mkdtemp(prefix=f"study-test-{name}-", dir=shm))
    except OSError:
        pass
    return tmp_path_factory.mktemp(name)


@pytest.fixture
def single_thread():
    """One torch thread: on a small shared machine, intra-op threads on tiny tensors mostly wait on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mnist_env(data_root: Path):
    """Point STUDY_DATA_DIR at the writable MNIST copy for code that resolves data roots itself (Ray workers)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("STUDY_DATA_DIR", str(data_root))
    yield data_root
    mp.undo()




from testlib import start_local_ray, tiny_run, tiny_spec  # noqa: E402,F401

TINY_STUDY = "tiny"


@pytest.fixture(scope="session")
def tiny_study(mnist_env, tmp_path_factory) -> Path:
    """A finished 3 trials × 3 epochs study in deterministic CPU mode (stopping rules off: all COMPLETE),
    on a real local Ray with SQLite Optuna and MLflow; shared by the export and report tests."""
    from study.run.engine import run_study
    from study.run.options import resolve_options
    from study.spec.spec import load_spec

    tmp = tmp_path_factory.mktemp("tiny-study")
    ws = tmp / "ws"
    spec = load_spec(tiny_spec(mnist_env, tmp, name=TINY_STUDY, deterministic=True))
    ray = start_local_ray()
    try:
        run_study(spec, TINY_STUDY, resolve_options(str(ws)))
    finally:
        ray.shutdown()
    return ws
