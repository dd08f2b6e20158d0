"""TorchLoader and DeviceLoader: shapes, range, (seed, epoch) determinism, and augmentation that keeps content."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainables.data.loaders import DeviceLoader, TorchLoader, augment_batch, plan_epoch

pytestmark = pytest.mark.usefixtures("single_thread")

N, BS = 103, 16  # 7 batches, the last one partial (7 images)
LOADERS = [TorchLoader, DeviceLoader]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (N, 3, 32, 32), generator=g, dtype=torch.uint8)


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    """Labels that name the source image, so every output can be traced back."""
    return torch.arange(N, dtype=torch.int64)


def epoch(loader, e: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader.batches(e)]


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


@pytest.mark.parametrize("cls", LOADERS)
def test_shapes_dtype_range_and_partial_batch(cls, images, ids):
    loader = cls(images, ids, BS, "cpu", shuffle=True, augment=True, seed=1)
    batches = epoch(loader, 0)
    assert len(loader) == len(batches) == 7
    assert [len(y) for _, y in batches] == [16] * 6 + [7]
    for x, y in batches:
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (3, 32, 32) and x.device.type == "cpu"
        assert 0.0 <= x.min() and x.max() <= 1.0
    seen = torch.cat([y for _, y in batches])
    assert torch.equal(seen.sort().values, ids)  # every image exactly once


@pytest.mark.parametrize("cls", LOADERS)
def test_order_and_augmentation_depend_only_on_seed_and_epoch(cls, images, ids):
    a = cls(images, ids, BS, shuffle=True, augment=True, seed=5)
    b = cls(images, ids, BS, shuffle=True, augment=True, seed=5)
    for e in range(3):  # a has seen epochs 0..2; b jumps straight to epoch 3, like a resumed run
        epoch(a, e)
    torch.manual_seed(1234)  # the global RNG plays no part
    assert same(epoch(a, 3), epoch(b, 3))
    assert not same(epoch(a, 3), epoch(a, 4))
    assert not same(epoch(a, 3), epoch(cls(images, ids, BS, shuffle=True, augment=True, seed=6), 3))


def test_global_rng_untouched(images, ids):
    torch.manual_seed(0)
    state = torch.get_rng_state()
    for cls in LOADERS:
        epoch(cls(images, ids, BS, shuffle=True, augment=True, seed=2), 0)
    assert torch.equal(torch.get_rng_state(), state)


def test_both_loaders_give_identical_batches(images, ids):
    kwargs = dict(shuffle=True, augment=True, seed=9)
    ref = epoch(DeviceLoader(images, ids, BS, **kwargs), 4)
    assert same(ref, epoch(TorchLoader(images, ids, BS, **kwargs), 4))
    assert same(ref, epoch(TorchLoader(images, ids, BS, num_workers=2, **kwargs), 4))


def _variants(img: torch.Tensor, pad: int = 4):
    """Every crop of the zero-padded image, plain and mirrored, by plain slicing (independent of the loader)."""
    padded = F.pad(img, (pad, pad, pad, pad))
    h, w = img.shape[1:]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            yield (dy, dx, False), crop
            yield (dy, dx, True), crop.flip(-1)


def test_device_augmentation_is_a_shifted_or_mirrored_original(images, ids):
    loader = DeviceLoader(images, ids, BS, shuffle=True, augment=True, seed=3)
    plan = loader.plan(0)
    pos, changed = 0, 0
    for x, y in loader.batches(0):
        for xi, yi in zip(x, y):
            src = images[yi]
            out = (xi * 255).round().to(torch.uint8)
            matches = {k for k, v in _variants(src) if torch.equal(v, out)}
            expected = (int(plan.dy[pos]), int(plan.dx[pos]), bool(plan.flip[pos]))
            assert expected in matches, f"image {int(yi)} is not its planned crop/flip"
            changed += expected != (4, 4, False)
            pos += 1
    assert changed > N // 2  # augmentation actually happens
    # the vectorised op on its own: a centred, unflipped crop is the identity
    k = torch.full((5,), 4)
    assert torch.equal(augment_batch(images[:5], k, k, torch.zeros(5, dtype=torch.bool)), images[:5])


def test_without_augmentation_pixels_are_exact(images, ids):
    loader = DeviceLoader(images, ids, BS, shuffle=False, augment=False)
    x, y = next(loader.batches(0))
    assert torch.equal(y, ids[:BS])
    assert torch.equal(x, images[:BS].float() / 255)


@pytest.mark.parametrize("cls", LOADERS)
def test_channels_last_honoured(cls, images, ids):
    nchw = next(cls(images, ids, BS, shuffle=True, augment=True, seed=0).batches(1))[0]
    cl = next(cls(images, ids, BS, shuffle=True, augment=True, seed=0, channels_last=True).batches(1))[0]
    assert cl.is_contiguous(memory_format=torch.channels_last) and not nchw.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(nchw, cl)


def test_plan_is_a_pure_function():
    a, b = plan_epoch(50, 1, 2, True, True), plan_epoch(50, 1, 2, True, True)
    assert torch.equal(a.order, b.order) and torch.equal(a.dx, b.dx) and torch.equal(a.flip, b.flip)
    assert int(a.dy.min()) >= 0 and int(a.dy.max()) <= 8
    assert plan_epoch(50, 1, 2, False, False).dy is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_device_loader_on_cuda_matches_cpu(images, ids):
    kwargs = dict(shuffle=True, augment=True, seed=4, channels_last=True)
    gpu = [(x.cpu(), y.cpu()) for x, y in DeviceLoader(images, ids, BS, "cuda", **kwargs).batches(2)]
    assert same(gpu, epoch(DeviceLoader(images, ids, BS, "cpu", **kwargs), 2))
    x, _ = next(TorchLoader(images, ids, BS, "cuda", **kwargs).batches(2))
    assert x.device.type == "cuda"
