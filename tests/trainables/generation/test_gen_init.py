"""Initialisations: PCA at σ = 0 is the class mean exactly, retained variance picks the right rank,
local PCA works on the anchor's neighbours, every init stays in [0, 1]."""
from __future__ import annotations

import pytest
import torch

from trainables.generation import INITS, build_init, fit_pca
from trainables.schema.generation import InitConfig
from trainables.schema.registry import UnknownNameError


@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (90, 1, 6, 6), generator=g, dtype=torch.uint8)
    labels = torch.arange(90) % 3
    return images, labels


def class_mean(images, labels, c):
    return images[labels == c].reshape(int((labels == c).sum()), -1).float().div_(255).mean(0)


@pytest.mark.parametrize("name", ["pca", "local_pca"])
def test_sigma_zero_gives_the_mean(toy, name):
    images, labels = toy
    cfg = InitConfig(name=name, sigma=0.0, k_neighbors=30)  # k = class size: the neighbourhood is the class
    y = torch.tensor([0, 1, 2, 2, 0])
    x = build_init(cfg, images, labels).sample(y, torch.Generator().manual_seed(1))
    assert x.shape == (5, 1, 6, 6) and x.dtype == torch.float32
    for i, c in enumerate(y.tolist()):
        if name == "pca":  # exactly: μ + 0
            assert torch.equal(x[i].flatten(), class_mean(images, labels, c))
        else:  # the same images summed in another order
            assert torch.allclose(x[i].flatten(), class_mean(images, labels, c), atol=1e-6)


def test_pca_keeps_the_fewest_components_reaching_r():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 3, generator=g)
    z = (z - z.mean(0)) / z.std(0) * torch.tensor([10.0, 3.0, 1.0])  # variances 100, 9, 1
    basis = torch.linalg.qr(torch.randn(8, 3, generator=g))[0].T  # 3 orthonormal rows in R^8
    x = z @ basis
    assert len(fit_pca(x, 0.5).scales) == 1  # 100/110 = 0.91
    assert len(fit_pca(x, 0.95).scales) == 2  # 109/110 = 0.99
    assert len(fit_pca(x, 1.0).scales) == 3
    sv, std = fit_pca(x, 0.95, "singular_value").scales, fit_pca(x, 0.95, "std").scales
    assert torch.allclose(sv / (len(x) - 1) ** 0.5, std)
    assert torch.allclose(std, torch.tensor([10.0, 3.0]), rtol=1e-3)


def test_local_pca_neighbours_are_the_nearest(toy):
    images, labels = toy
    init = build_init(InitConfig(name="local_pca", k_neighbors=5), images, labels)
    rows = init.data.rows(1)
    nb = init.neighbours(1, anchor=4)
    d = ((rows - rows[4]) ** 2).sum(1)
    assert nb[0] == 4 and set(nb.tolist()) == set(torch.argsort(d)[:5].tolist())


def test_local_pca_sigma_zero_is_a_neighbourhood_mean(toy):
    images, labels = toy
    init = build_init(InitConfig(name="local_pca", sigma=0.0, k_neighbors=4), images, labels)
    x = init.sample(torch.zeros(3, dtype=torch.long), torch.Generator().manual_seed(0)).flatten(1)
    rows = init.data.rows(0)
    means = torch.stack([rows[init.neighbours(0, a)].mean(0) for a in range(len(rows))])
    for s in x:
        assert torch.isclose(means, s).all(1).any()


@pytest.mark.parametrize("name", INITS.names())
def test_every_init_in_unit_range_and_seeded(toy, name):
    images, labels = toy
    cfg = InitConfig(name=name, sigma=5.0)  # large σ: clipping must hold
    y = torch.arange(12) % 3
    a = build_init(cfg, images, labels).sample(y, torch.Generator().manual_seed(3))
    b = build_init(cfg, images, labels).sample(y, torch.Generator().manual_seed(3))
    assert a.shape == (12, 1, 6, 6) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)


def test_class_gaussian_matches_class_statistics(toy):
    images, labels = toy
    init = build_init(InitConfig(name="class_gaussian"), images, labels)
    x = init.sample(torch.full((3000,), 2), torch.Generator().manual_seed(0)).flatten(1)
    # clipping pulls the mean of a wide Gaussian in [0, 1] toward 0.5; the order of pixels' means survives
    ref = class_mean(images, labels, 2)
    assert torch.corrcoef(torch.stack([x.mean(0), ref]))[0, 1] > 0.9


def test_unknown_init_and_bad_images(toy):
    images, labels = toy
    with pytest.raises(UnknownNameError, match="allowed"):
        INITS.get("gan")
    with pytest.raises(ValueError, match="uint8"):
        build_init(InitConfig(), images.float(), labels)
