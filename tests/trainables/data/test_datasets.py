"""The registered datasets on real data: MNIST, Fashion-MNIST, the CIFAR-10 JPEG imagefolder; errors; staging."""
from __future__ import annotations

import shutil
import stat
import time
from pathlib import Path

import pytest
import torch

from trainables.schema.config import DataConfig
from trainables.data import DATASETS, build_data, cache_dir, load_arrays, locate, resolve_root
from trainables.data import imagefolder, network, torchvision_sets
from trainables.data.roots import path_key
from trainables.errors import DatasetNotFoundError, InputError

pytestmark = pytest.mark.usefixtures("single_thread")

# Label counts from shared/data/PROVENANCE.md.
MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*")}


def test_registry_names():
    assert {"cifar10", "cifar100", "svhn", "mnist", "fashion_mnist", "imagefolder"} <= set(DATASETS.names())


def test_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("STUDY_DATA_DIR", raising=False)
    assert resolve_root(DataConfig(name="mnist")) == tmp_path / "c" / "data"
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path / "d"))
    assert resolve_root(DataConfig(name="mnist")) == tmp_path / "d"
    assert resolve_root(DataConfig(name="mnist", root=str(tmp_path / "e"))) == tmp_path / "e"


def test_mnist(data_root):
    a = load_arrays(DataConfig(name="mnist", root=str(data_root), download=False))
    assert a.train_x.shape == (60000, 1, 28, 28) and a.test_x.shape == (10000, 1, 28, 28)
    assert a.train_x.dtype == torch.uint8 and a.train_y.dtype == torch.int64
    assert torch.bincount(a.train_y).tolist() == MNIST_TRAIN
    assert torch.bincount(a.test_y).tolist() == MNIST_TEST
    assert len(a.class_names) == 10
    # the published constants are the statistics of these very images
    assert a.mean == pytest.approx(imagefolder.channel_stats(a.train_x)[0], abs=1e-3)
    assert a.std == pytest.approx(imagefolder.channel_stats(a.train_x)[1], abs=1e-3)
    # even a writable data root is never written to: the gz files are extracted into the cache
    assert not (data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
    assert cache_dir() / "staged" in a.source.parents


def test_fashion_mnist(data_root):
    before = tree(data_root)
    a = load_arrays(DataConfig(name="fashion_mnist", root=str(data_root), download=False))
    assert a.train_x.shape == (60000, 1, 28, 28) and a.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(a.train_y).tolist() == [6000] * 10
    assert torch.bincount(a.test_y).tolist() == [1000] * 10
    assert a.class_names[0] == "T-shirt/top"
    assert tree(data_root) == before  # the user's data folder is read, never written
    assert a.mean == pytest.approx(imagefolder.channel_stats(a.train_x)[0], abs=1e-3)


def test_read_only_root_is_staged_into_the_cache(data_root, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    shutil.copytree(data_root / "MNIST" / "raw", ro / "MNIST" / "raw", ignore=shutil.ignore_patterns("*-ubyte"))
    for d in (ro / "MNIST" / "raw", ro / "MNIST", ro):
        d.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
        before = tree(ro)
        cfg = DataConfig(name="mnist", root=str(ro), download=False)
        assert locate(cfg).state == "archives" and "read-only" in locate(cfg).detail
        a = load_arrays(cfg)
        assert len(a.train_y) == 60000
        assert tree(ro) == before  # nothing written in the read-only root
        assert tmp_path / "cache" / "staged" in a.source.parents
        assert locate(cfg).state == "ready" and locate(cfg).found == a.source  # next time: straight from the cache
    finally:
        for d in (ro, ro / "MNIST", ro / "MNIST" / "raw"):
            d.chmod(0o755)


def test_shared_dir_serves_mnist_and_fashion_mnist(shared_data, monkeypatch):
    """STUDY_DATA_DIR=shared/data works for both: Fashion-MNIST is found in its conventional subfolder."""
    monkeypatch.setenv("STUDY_DATA_DIR", str(shared_data))
    before = tree(shared_data / "fashion-mnist")
    a = load_arrays(DataConfig(name="fashion_mnist", download=False))
    assert len(a.train_y) == 60000 and len(a.test_y) == 10000
    assert tree(shared_data / "fashion-mnist") == before
    assert locate(DataConfig(name="mnist", download=False)).found is not None


def test_missing_dataset_message(tmp_path):
    root = tmp_path / "empty"
    with pytest.raises(DatasetNotFoundError) as e:
        load_arrays(DataConfig(name="cifar10", root=str(root), download=False))
    msg = str(e.value)
    for words in ("'cifar10'", str(root), "STUDY_DATA_DIR", "data.root", "cifar-10-batches-py", "download is false"):
        assert words in msg


def test_offline_download_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDY_OFFLINE", raising=False)
    monkeypatch.setattr(network, "reachable", lambda host, timeout=3.0: False)
    t0 = time.monotonic()
    with pytest.raises(DatasetNotFoundError, match="no network connection") as e:
        load_arrays(DataConfig(name="mnist", root=str(tmp_path / "r"), download=True))
    assert time.monotonic() - t0 < 5
    assert "STUDY_DATA_DIR" in str(e.value) and str(tmp_path / "r") in str(e.value)
    assert not (tmp_path / "r").exists()  # nothing half-downloaded left behind


def test_reachability_probe_is_bounded():
    t0 = time.monotonic()
    assert network.reachable("does-not-exist.invalid", timeout=0.5) is False
    assert time.monotonic() - t0 < 2


def test_image_size_only_for_imagefolder(data_root):
    with pytest.raises(InputError, match="image_size"):
        load_arrays(DataConfig(name="mnist", root=str(data_root), image_size=32))


def test_build_data_mnist(data_root):
    cfg = DataConfig(name="mnist", root=str(data_root), val_size=5000, train_subset=1000, test_subset=300)
    b = build_data(cfg, batch_size=128, seed=0)
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 1, 28)
    assert (b.num_train, b.num_val, b.num_test) == (1000, 5000, 300)
    assert b.steps_per_epoch == 8 and b.augment is False  # augmentation defaults off for 28x28 grayscale
    assert b.mean == (0.1307,) and b.std == (0.3081,)
    assert b.train_images.shape == (1000, 1, 28, 28) and b.train_images.dtype == torch.uint8
    assert sum(len(y) for _, y in b.train_batches(0)) == 1000
    assert sum(len(y) for _, y in b.val_batches(1000)) == 5000
    assert [len(y) for _, y in b.test_batches(128, limit=200)] == [128, 72]
    x, y = b.probe_batch(16)
    assert torch.equal(x, b.train_images[:16].float() / 255) and torch.equal(y, b.train_labels[:16])
    # the probe and the split do not depend on the run seed; the batch order does
    b2 = build_data(cfg, batch_size=128, seed=1)
    assert torch.equal(b2.probe_batch(16)[0], x)
    assert not torch.equal(next(b2.train_batches(0))[1], next(b.train_batches(0))[1])


def test_imagefolder_cifar(cifar_folder, monkeypatch):
    cfg = DataConfig(name="imagefolder", root=str(cifar_folder))
    a = load_arrays(cfg)  # decodes 60k JPEGs (once per session) and caches them
    assert a.train_x.shape == (50000, 3, 32, 32) and a.test_x.shape == (10000, 3, 32, 32)
    assert a.class_names == CIFAR_CLASSES
    assert torch.bincount(a.train_y).tolist() == [5000] * 10
    assert torch.bincount(a.test_y).tolist() == [1000] * 10
    # JPEG q75 keeps the CIFAR-10 statistics close to the published ones
    assert a.mean == pytest.approx((0.4914, 0.4822, 0.4465), abs=0.005)
    assert a.std == pytest.approx((0.2471, 0.2435, 0.2616), abs=0.01)
    # one cache file for this folder (other tests may cache other folders in the same session)
    cached = list((cache_dir() / "imagefolder").glob(f"{path_key(resolve_root(cfg))}-*.pt"))
    assert len(cached) == 1
    # the second load comes from the cache: decoding is not even possible any more
    monkeypatch.setattr(imagefolder, "_decode_folder", lambda *a, **k: pytest.fail("decoded again"))
    again = load_arrays(cfg)
    assert torch.equal(again.train_x[:100], a.train_x[:100]) and torch.equal(again.test_y, a.test_y)


def test_build_data_imagefolder_device_loader(cifar_folder):
    cfg = DataConfig(name="imagefolder", root=str(cifar_folder), loader="device", train_subset=512, test_subset=100)
    b = build_data(cfg, batch_size=200, seed=0, channels_last=True)
    assert (b.num_classes, b.in_channels, b.image_size, b.augment) == (10, 3, 32, True)
    assert (b.num_train, b.num_val, b.num_test, b.steps_per_epoch) == (512, 1000, 100, 3)
    x, y = next(b.train_batches(0))
    assert x.shape == (200, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    assert b.class_names == CIFAR_CLASSES


# ----- imagefolder on small synthetic folders -------------------------------------------------


def write_images(root: Path, spec: dict[str, dict[str, list[tuple[str, tuple[int, int]]]]]) -> Path:
    """spec: split -> class -> [(mode, (w, h))]; L and RGB as JPEG at even indices, everything else PNG."""
    from PIL import Image

    colours = {"L": 200, "LA": (200, 255), "RGB": (200, 10, 10), "RGBA": (200, 10, 10, 255), "P": 3}
    for split, classes in spec.items():
        for cls, images in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i, (mode, size) in enumerate(images):
                ext = "jpg" if mode in ("L", "RGB") and i % 2 == 0 else "png"
                Image.new(mode, size, colours[mode]).save(root / split / cls / f"{i}.{ext}")
    return root


def folder(tmp_path, mode="RGB", sizes=((8, 8),) * 2) -> Path:
    cls = {c: [(mode, s) for s in sizes] for c in ("b", "a")}
    return write_images(tmp_path / "f", {"train": cls, "test": cls})


def test_imagefolder_grayscale_and_labels(tmp_path):
    a = load_arrays(DataConfig(name="imagefolder", root=str(folder(tmp_path, "L"))))
    assert a.train_x.shape == (4, 1, 8, 8) and a.class_names == ("a", "b")
    assert a.train_y.tolist() == [0, 0, 1, 1]
    assert int(a.train_x.float().mean().round()) == 200


def test_imagefolder_mixed_modes_become_rgb(tmp_path):
    root = write_images(tmp_path / "f", {
        "train": {"a": [("L", (8, 8)), ("RGBA", (8, 8))], "b": [("RGB", (8, 8))]},
        "test": {"a": [("LA", (8, 8))], "b": [("P", (8, 8))]},
    })
    a = load_arrays(DataConfig(name="imagefolder", root=str(root)))
    assert a.train_x.shape == (3, 3, 8, 8) and a.test_x.shape == (2, 3, 8, 8)
    gray = a.train_x[0]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_imagefolder_sizes_must_match_unless_resized(tmp_path):
    root = folder(tmp_path, sizes=((8, 8), (12, 10)))
    with pytest.raises(InputError, match="image_size"):
        load_arrays(DataConfig(name="imagefolder", root=str(root)))
    a = load_arrays(DataConfig(name="imagefolder", root=str(root), image_size=16))
    assert a.train_x.shape == (4, 3, 16, 16)


def test_imagefolder_errors(tmp_path):
    root = folder(tmp_path)
    shutil.rmtree(root / "test")
    with pytest.raises(DatasetNotFoundError, match="no test/ folder") as e:
        load_arrays(DataConfig(name="imagefolder", root=str(root)))
    assert "STUDY_DATA_DIR" in str(e.value)
    (root / "test" / "a").mkdir(parents=True)
    (root / "test" / "b").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        load_arrays(DataConfig(name="imagefolder", root=str(root)))
    (root / "test" / "c").mkdir()
    with pytest.raises(InputError, match="same class folders"):
        load_arrays(DataConfig(name="imagefolder", root=str(root)))


def test_imagefolder_cache_follows_changes(tmp_path):
    from PIL import Image

    root = folder(tmp_path)
    cfg = DataConfig(name="imagefolder", root=str(root))
    assert len(load_arrays(cfg).train_y) == 4
    Image.new("RGB", (8, 8)).save(root / "train" / "a" / "new.png")
    assert len(load_arrays(cfg).train_y) == 5  # the fingerprint changed: decoded again
    key = imagefolder.path_key(root)
    assert len(list((cache_dir() / "imagefolder").glob(f"{key}-*"))) == 1  # the stale entry is gone


def test_corrupt_archives_are_a_clear_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in torchvision_sets.DATASETS.get("mnist").archives:
        (tmp_path / f).write_bytes(b"not gzip at all")
    with pytest.raises(DatasetNotFoundError, match="could not extract"):
        load_arrays(DataConfig(name="mnist", root=str(tmp_path), download=False))
    assert not list(raw.glob("*-ubyte"))  # nothing half-extracted left to be mistaken for data
