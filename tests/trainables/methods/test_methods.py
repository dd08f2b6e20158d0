import pytest
import torch
import torch.nn.functional as F

from trainables.schema.config import DERConfig, MethodConfig
from trainables.methods import METHODS, build_method, frozen_bn_stats
from trainables.methods.trades import trades_loss
from trainables.models import build_model


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    m = build_model("small_cnn", 10, 3, width=8, image_size=16)
    x = torch.rand(8, 3, 16, 16)
    y = torch.randint(0, 10, (8,))
    return m, x, y


def test_trades_loss_against_definition():
    torch.manual_seed(0)
    nat, adv = torch.randn(6, 4), torch.randn(6, 4)
    y = torch.randint(0, 4, (6,))
    p, q = F.softmax(nat, 1), F.softmax(adv, 1)
    kl = (p * (p.log() - q.log())).sum(1).mean()  # KL(p(x) ‖ p(x*)), averaged over the batch
    want = F.cross_entropy(nat, y) + 6.0 * kl
    assert torch.allclose(trades_loss(nat, adv, y, 6.0), want, atol=1e-6)


@pytest.mark.parametrize("name", ["fgsm", "rs_fgsm", "n_fgsm", "pgd", "trades", "gradalign"])
@pytest.mark.parametrize("der_weight", [0.0, 1.0])
def test_every_method_trains_with_and_without_der(setup, name, der_weight):
    m, x, y = setup
    m.train()
    meth = build_method(MethodConfig(name=name, steps=2), DERConfig(weight=der_weight))
    out = meth.step(m, x, y, want_nat=True)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert all(p.grad is not None for p in m.parameters())
    assert out.logits_nat is not None and out.logits_adv.shape == (8, 10)
    assert (out.der_loss > 0) == (der_weight > 0)
    assert torch.allclose(out.loss.detach(), out.method_loss + out.der_loss)


def test_der_with_random_start_natural_energy(setup):
    m, x, y = setup
    meth = build_method(MethodConfig(name="rs_fgsm"), DERConfig(weight=1.0, natural_at="random_start"))
    out = meth.step(m, x, y)
    assert out.der_loss > 0


def test_no_extra_forward_when_nat_logits_not_wanted(setup):
    m, x, y = setup
    calls = []
    hook = m.register_forward_pre_hook(lambda mod, inp: calls.append(1))
    try:
        build_method(MethodConfig(name="fgsm"), DERConfig()).step(m, x, y, want_nat=False)
        n_plain = len(calls)
        calls.clear()
        build_method(MethodConfig(name="trades", steps=1), DERConfig(weight=1.0)).step(m, x, y, want_nat=True)
        n_trades_der = len(calls)
    finally:
        hook.remove()
    assert n_plain == 2  # one attack forward, one training forward
    # TRADES: p(x) for the attack, 1 attack step, clean + adversarial training forwards; DER reuses the clean logits
    assert n_trades_der == 4


def test_trace_forward_leaves_batchnorm_statistics_untouched(setup):
    m, x, _ = setup
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with torch.no_grad(), frozen_bn_stats(m):
        m(x)
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_registry():
    assert set(METHODS.names()) == {"fgsm", "rs_fgsm", "n_fgsm", "pgd", "trades", "gradalign"}
