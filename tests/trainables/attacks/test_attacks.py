import pytest
import torch

from trainables.attacks import ATTACKS, build_attack
from trainables.models import build_model

EPS = 8


@pytest.fixture(scope="module")
def model_and_batch():
    torch.manual_seed(0)
    m = build_model("small_cnn", 10, 3, width=8, image_size=16)
    # include pixels at 0 and 1 so that clipping to [0, 1] matters
    x = torch.rand(16, 3, 16, 16)
    x[:4] = 0.0
    x[4:8] = 1.0
    y = torch.randint(0, 10, (16,))
    return m, x, y


@pytest.mark.parametrize("name", ["fgsm", "rs_fgsm", "pgd", "trades_kl"])
def test_linf_attacks_stay_in_ball_and_pixel_range(model_and_batch, name):
    m, x, y = model_and_batch
    r = build_attack(name, EPS, steps=3)(m, x, y)
    assert (r.x_adv - x).abs().max() <= EPS / 255 + 1e-6
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    assert (r.x_start - x).abs().max() <= EPS / 255 + 1e-6
    assert not r.x_adv.requires_grad


def test_n_fgsm_respects_its_own_bound(model_and_batch):
    m, x, y = model_and_batch
    atk = build_attack("n_fgsm", EPS, noise_k=2.0)
    r = atk(m, x, y)
    d = (r.x_adv - x).abs().max().item()
    assert d <= atk.bound + 1e-6 == pytest.approx(3 * EPS / 255 + 1e-6)
    assert d > EPS / 255  # not projected to the ε-ball
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1


def test_pgd_l2_ball(model_and_batch):
    m, x, y = model_and_batch
    eps = 128.0  # 0.5 in pixel units
    r = build_attack("pgd", eps, steps=5, norm="l2")(m, x, y)
    norms = (r.x_adv - x).flatten(1).norm(dim=1)
    assert norms.max() <= eps / 255 + 1e-5
    assert r.x_adv.min() >= 0 and r.x_adv.max() <= 1


def test_default_step_sizes_follow_method_md():
    assert build_attack("fgsm", 8).alpha == pytest.approx(8 / 255)
    assert build_attack("rs_fgsm", 8).alpha == pytest.approx(10 / 255)
    assert build_attack("n_fgsm", 8).alpha == pytest.approx(8 / 255)
    assert build_attack("pgd", 8).alpha == pytest.approx(2 / 255)
    assert build_attack("trades_kl", 8).alpha == pytest.approx(2 / 255)
    assert build_attack("pgd", 8, 1.5).alpha == pytest.approx(1.5 / 255)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_bn_mode_used_recorded_and_restored(model_and_batch, mode):
    m, x, y = model_and_batch
    seen = []
    hook = m.net[1].register_forward_pre_hook(lambda mod, inp: seen.append(mod.training))
    m.train()
    try:
        r = build_attack("pgd", EPS, steps=2, bn=mode)(m, x, y)
    finally:
        hook.remove()
    assert r.bn_mode == mode
    assert set(seen) == {mode == "train"}
    assert m.training  # restored


def test_attack_leaves_parameter_grads_alone(model_and_batch):
    m, x, y = model_and_batch
    m.zero_grad(set_to_none=True)
    build_attack("pgd", EPS, steps=2)(m, x, y)
    assert all(p.grad is None for p in m.parameters())


def test_pgd_restarts_never_find_fewer_errors(model_and_batch):
    m, x, y = model_and_batch
    m.eval()
    torch.manual_seed(3)
    one = build_attack("pgd", EPS, steps=3, restarts=1)
    many = build_attack("pgd", EPS, steps=3, restarts=4)
    torch.manual_seed(5)
    wrong1 = (m(one(m, x, y).x_adv).argmax(1) != y).sum()
    torch.manual_seed(5)  # same first restart
    wrong4 = (m(many(m, x, y).x_adv).argmax(1) != y).sum()
    assert wrong4 >= wrong1


def test_registry_lists_every_attack():
    assert set(ATTACKS.names()) == {"fgsm", "rs_fgsm", "n_fgsm", "pgd", "trades_kl"}


def test_nonpositive_epsilon_refused():
    with pytest.raises(ValueError, match="positive"):
        build_attack("pgd", 0)
