"""SGLD: stays in [0, 1], plain steps lower the energy, the adaptive stop freezes exactly the samples
that reached the target (checked on E(x, y) = −mean(x), whose path is known in closed form)."""
from __future__ import annotations

import pytest
import torch
from gen_helpers import MeanPixel

from trainables.energy.energies import joint_energy
from trainables.generation import class_mean_energies, sgld
from trainables.schema.generation import SamplerConfig
from trainables.models import build_model


def flat(values, d=4):
    """Images 1×2×2 whose every pixel is ``v``: mean(x) = v, E = −v."""
    return torch.tensor(values, dtype=torch.float32)[:, None, None, None].expand(-1, 1, 2, 2).clone()


def test_guided_adaptive_stop_freezes_exactly_the_samples_on_target():
    # E = −mean(x), Ē = −0.5; with η = D/2 (D = 4 pixels), no momentum and no noise, each guided step
    # halves E − Ē. τ = 1e-4 (|E − Ē| < 0.01): distances 0, 0.015, 0.03, 0.3 stop after 0, 1, 2, never.
    x0 = flat([0.5, 0.515, 0.53, 0.8])
    y = torch.zeros(4, dtype=torch.long)
    cfg = SamplerConfig(steps=3, step_size=2.0, momentum=0.0, noise_std=0.0, guidance=True, adaptive_stop=True,
                        tau=1e-4)
    r = sgld(MeanPixel(), x0, y, cfg, target=torch.full((4,), -0.5))
    assert r.steps.tolist() == [0, 1, 2, 3]
    assert r.frozen.tolist() == [True, True, True, False]
    assert torch.equal(r.x[0], x0[0])  # frozen before any update: untouched
    assert torch.allclose(r.x[1:3].flatten(1).mean(1), torch.tensor([0.5075, 0.5075]), atol=1e-6)
    assert r.x[3].mean().item() == pytest.approx(0.5 + 0.3 / 8, abs=1e-6)  # three halvings, still moving
    assert torch.allclose(r.energy, -r.x.flatten(1).mean(1))


def test_plain_adaptive_stop_freezes_only_samples_crossing_the_target():
    # plain descent on E = −mean(x): every pixel rises by η/(2D) = 0.025 per step. Samples below the
    # target mean 0.5 climb into the |E − Ē| < 0.01 band (0.455 after 2 steps, 0.48 after 1); those above never.
    x0 = flat([0.455, 0.48, 0.6, 0.9])
    cfg = SamplerConfig(steps=6, step_size=0.2, momentum=0.0, noise_std=0.0, guidance=False, adaptive_stop=True,
                        tau=1e-4)
    r = sgld(MeanPixel(), x0, torch.zeros(4, dtype=torch.long), cfg, target=torch.full((4,), -0.5))
    assert r.frozen.tolist() == [True, True, False, False]
    assert r.steps.tolist() == [2, 1, 6, 6]
    assert torch.allclose(r.x[2:].flatten(1).mean(1), torch.tensor([0.75, 1.0]))  # 0.6 + 6·0.025; 0.9 clipped at 1


def small_cnn():
    torch.manual_seed(0)
    return build_model("small_cnn", 10, 1, [0.5], [0.25], width=4, image_size=8)


def test_plain_steps_lower_the_energy():
    model = small_cnn()
    g = torch.Generator().manual_seed(0)
    x0 = 0.3 + 0.4 * torch.rand(6, 1, 8, 8, generator=g)  # away from the clip bounds
    y = torch.arange(6) % 10
    energies = []
    for steps in range(5):
        cfg = SamplerConfig(steps=steps, step_size=0.05, momentum=0.0, noise_std=0.0, guidance=False,
                            adaptive_stop=False)
        energies.append(sgld(model, x0, y, cfg).energy)
    e = torch.stack(energies)
    assert (e[1:] < e[:-1]).all(), e


def test_samples_stay_in_unit_range_and_mode_is_restored():
    model = small_cnn().train()
    bn_before = model.net[1].running_mean.clone()
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(8, 1, 8, 8, generator=g)
    cfg = SamplerConfig(steps=5, step_size=50.0, momentum=0.9, noise_std=0.5, guidance=False, adaptive_stop=False)
    r = sgld(model, x0, torch.arange(8), cfg, gen=torch.Generator().manual_seed(2))
    assert r.x.min() >= 0 and r.x.max() <= 1
    assert ((r.x == 0) | (r.x == 1)).any()  # big steps do hit the bounds: the clip is what holds them
    assert model.training and torch.equal(model.net[1].running_mean, bn_before)  # sampled in eval mode
    again = sgld(model, x0, torch.arange(8), cfg, gen=torch.Generator().manual_seed(2))
    assert torch.equal(r.x, again.x)  # seeded noise


def test_guidance_needs_a_target():
    with pytest.raises(ValueError, match="target"):
        sgld(MeanPixel(), flat([0.5]), torch.zeros(1, dtype=torch.long), SamplerConfig())


def test_class_mean_energies():
    model = small_cnn()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 1, 8, 8, generator=g)
    y = torch.tensor([0, 1, 3] * 6 + [0, 0])
    got = class_mean_energies(model, [(x[:7], y[:7]), (x[7:], y[7:])], 10)
    with torch.no_grad():
        e = joint_energy(model.eval()(x), y)
    for c in (0, 1, 3):
        assert got[c].item() == pytest.approx(e[y == c].mean().item(), abs=1e-5)
    assert torch.isnan(got[2])
