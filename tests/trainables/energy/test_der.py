import pytest
import torch
import torch.nn.functional as F

from trainables.schema.config import DERConfig
from trainables.energy.der import DER
from trainables.energy.energies import energy, joint_energy


@pytest.mark.parametrize("rho", ["square", "abs"])
@pytest.mark.parametrize("weights", [False, True])
def test_der_is_zero_with_zero_gradient_when_adversarial_equals_natural(rho, weights):
    torch.manual_seed(0)
    w = torch.randn(5, 3, requires_grad=True)
    x = torch.randn(8, 5)
    y = torch.randint(0, 3, (8,))
    logits_nat, logits_adv = x @ w, x @ w  # x* = x
    der = DER(DERConfig(weight=1.0, joint_weight=0.5, rho=rho, energy_weights=weights))
    loss = der(logits_nat, logits_adv, y)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(w.grad) == 0


def test_der_matches_definition():
    torch.manual_seed(1)
    nat = torch.randn(16, 10, requires_grad=True)
    adv = torch.randn(16, 10, requires_grad=True)
    y = torch.randint(0, 10, (16,))
    cfg = DERConfig(weight=2.0, joint_weight=0.3, rho="square", energy_weights=True)
    got = DER(cfg)(nat, adv, y)
    e_nat = energy(nat)
    w = 1 / F.softplus(e_nat.abs())
    want = 2.0 * (w * (e_nat - energy(adv)) ** 2).mean() + 0.3 * ((joint_energy(nat, y) - joint_energy(adv, y)) ** 2).mean()
    assert torch.allclose(got, want)
    got.backward()
    assert nat.grad.abs().sum() > 0 and adv.grad.abs().sum() > 0  # gradients flow through both energies


def test_energy_weights_are_detached():
    nat = torch.randn(4, 3, requires_grad=True)
    adv = nat.detach().clone() + 0.5
    y = torch.zeros(4, dtype=torch.long)
    plain = DER(DERConfig(weight=1.0))(nat, adv, y)
    weighted = DER(DERConfig(weight=1.0, energy_weights=True))(nat, adv, y)
    (g_plain,) = torch.autograd.grad(plain, nat)
    (g_w,) = torch.autograd.grad(weighted, nat)
    w = (1 / F.softplus(energy(nat).abs())).detach()
    # with detached weights the gradient is exactly the per-sample weighted plain gradient
    assert torch.allclose(g_w, g_plain * w[:, None], atol=1e-6)


def test_disabled_der():
    assert not DER(DERConfig()).enabled
    assert DER(DERConfig(joint_weight=0.1)).enabled
