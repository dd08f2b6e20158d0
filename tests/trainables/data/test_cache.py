"""The split cache on real MNIST: in-process and on-disk hits give exactly the uncached data, decode nothing,
and a changed source file, another split, or an unreadable cache entry means decoding again."""
from __future__ import annotations

import os

import pytest
import torch

from trainables.schema.config import DataConfig
from trainables.data import DATASETS, build_data, cache, split_data
from trainables.data.bundle import SplitData

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def decodes(monkeypatch, tmp_path):
    """A fresh cache dir and memory; counts the real decodes (``split_data`` calls)."""
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    cache.clear_memory()
    calls = []

    def counted(cfg):
        calls.append(cfg)
        return split_data(cfg)

    monkeypatch.setattr(cache, "split_data", counted)
    yield calls
    cache.clear_memory()


def cfg(root, **over) -> DataConfig:
    return DataConfig(**{"name": "mnist", "root": str(root), "val_size": 64, "train_subset": 128, "test_subset": 32,
                         **over})


def same(a: SplitData, b: SplitData) -> bool:
    tensors = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
    return all(torch.equal(getattr(a, t), getattr(b, t)) for t in tensors) and \
        (a.class_names, a.mean, a.std) == (b.class_names, b.mean, b.std)


def test_memory_then_disk_hits_equal_the_uncached_split(decodes, data_root):
    c = cfg(data_root)
    first = cache.cached_split(c)
    assert len(decodes) == 1 and same(first, split_data(c))
    assert cache.cached_split(c) is first and len(decodes) == 1  # same process: the same tensors
    cache.clear_memory()  # as a fresh worker on this node
    from_disk = cache.cached_split(c)
    assert len(decodes) == 1 and from_disk is not first and same(from_disk, first)


def test_loaders_over_a_cached_split_give_the_uncached_batches(decodes, data_root):
    c = cfg(data_root)
    plain = build_data(c, 32, seed=5)
    cached = build_data(c, 32, seed=5, split=cache.cached_split(c))
    for epoch in (0, 3):
        for (x0, y0), (x1, y1) in zip(plain.train_batches(epoch), cached.train_batches(epoch), strict=True):
            assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert torch.equal(plain.probe_batch(16)[0], cached.probe_batch(16)[0])


def test_a_trial_leaves_the_shared_tensors_as_they_were(decodes, data_root):
    c = cfg(data_root)
    split = cache.cached_split(c)
    before = {t: getattr(split, t).clone() for t in ("train_x", "train_y", "val_x", "test_x")}
    data = build_data(c, 32, seed=1, split=split)
    for epoch in range(2):
        for x, _ in data.train_batches(epoch):
            x.mul_(0)  # a consumer writing to its batch must not reach the cache
    list(data.val_batches()), list(data.test_batches()), data.probe_batch(8)
    assert all(torch.equal(getattr(split, t), v) for t, v in before.items())


def test_loader_only_fields_share_an_entry_and_split_fields_do_not(decodes, data_root):
    base = cache.split_key(cfg(data_root))
    assert cache.split_key(cfg(data_root, augment=True, loader="device", num_workers=2, download=False)) == base
    for over in ({"split_seed": 1}, {"train_subset": 64}, {"val_size": 32}, {"test_subset": 16}):
        assert cache.split_key(cfg(data_root, **over)) != base, over


def test_a_changed_source_file_is_decoded_again(decodes, data_root):
    c = cfg(data_root)
    cache.cached_split(c)
    cache.clear_memory()
    _, ready, _ = DATASETS.get("mnist")._scan(data_root)  # extracted by the first load (into the cache's staging)
    raw = ready / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    st = raw.stat()
    os.utime(raw, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cache.cached_split(c)
    assert len(decodes) == 2


def test_an_unreadable_disk_entry_is_replaced(decodes, data_root):
    c = cfg(data_root)
    first = cache.cached_split(c)
    path = cache.disk_path(cache.split_key(c))
    path.write_bytes(b"not a checkpoint")
    cache.clear_memory()
    assert same(cache.cached_split(c), first) and len(decodes) == 2
    cache.clear_memory()
    cache.cached_split(c)  # rewritten: a hit again
    assert len(decodes) == 2
