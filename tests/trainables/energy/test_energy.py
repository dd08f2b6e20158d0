import torch
import torch.nn.functional as F

from trainables.energy.energies import delta_energy, energy, joint_delta_energy, joint_energy


def test_cross_entropy_is_joint_minus_marginal_energy():
    torch.manual_seed(0)
    logits = torch.randn(64, 10) * 5
    y = torch.randint(0, 10, (64,))
    ce = F.cross_entropy(logits, y, reduction="none")
    assert torch.allclose(ce, joint_energy(logits, y) - energy(logits), atol=1e-5)


def test_energy_definitions_and_shift():
    logits = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    assert torch.allclose(energy(logits), -torch.log(torch.exp(logits).sum(1)))
    assert torch.allclose(joint_energy(logits, torch.tensor([1, 0])), torch.tensor([0.0, -1.0]))
    # adding c to every logit lowers E(x) by c: absolute levels are model dependent
    assert torch.allclose(energy(logits + 2.0), energy(logits) - 2.0)


def test_delta_energy_sign_natural_minus_adversarial():
    nat = torch.tensor([[0.0, 0.0]])
    adv = torch.tensor([[5.0, 5.0]])  # higher logits -> lower energy at x*
    d = delta_energy(nat, adv)
    assert d.item() > 0  # E(x*) < E(x)  <=>  ΔE > 0
    assert torch.allclose(d, energy(nat) - energy(adv))
    y = torch.tensor([0])
    assert torch.allclose(joint_delta_energy(nat, adv, y), torch.tensor([5.0]))


def test_energy_is_float32_under_bf16_logits():
    logits = torch.randn(4, 10).to(torch.bfloat16)
    assert energy(logits).dtype == torch.float32
