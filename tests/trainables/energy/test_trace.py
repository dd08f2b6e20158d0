import numpy as np
import torch

from trainables.energy.energies import energy
from trainables.energy.trace import EnergyTrace, StreamStats


def test_stream_stats_exact_below_capacity():
    torch.manual_seed(0)
    chunks = [torch.randn(100) * 3 + 1 for _ in range(10)]
    s = StreamStats(capacity=4096)
    for c in chunks:
        s.update(c)
    allv = torch.cat(chunks).numpy()
    out = s.summary()
    assert abs(out["mean"] - allv.mean()) < 1e-5
    assert abs(out["std"] - allv.std(ddof=1)) < 1e-4
    for p in (5, 50, 95):
        assert abs(out[f"p{p}"] - np.percentile(allv, p)) < 1e-4


def test_stream_stats_bounded_memory_and_close_percentiles():
    torch.manual_seed(1)
    s = StreamStats(capacity=2048)
    data = []
    for _ in range(200):
        c = torch.randn(512)
        data.append(c)
        s.update(c)
    assert s._values.numel() == 2048  # never more than capacity kept
    allv = torch.cat(data).numpy()
    out = s.summary()
    assert abs(out["mean"] - allv.mean()) < 1e-6
    assert abs(out["p50"] - np.percentile(allv, 50)) < 0.1
    assert abs(out["p95"] - np.percentile(allv, 95)) < 0.15


def test_energy_trace_fraction_and_keys():
    nat = torch.zeros(10, 3)
    adv = torch.zeros(10, 3)
    adv[:4] += 1.0  # four adversarial points with lower energy
    y = torch.zeros(10, dtype=torch.long)
    t = EnergyTrace()
    t.update(nat, adv, y)
    out = t.summary()
    assert out["frac_adv_lower"] == 0.4
    assert abs(out["delta_mean"] - 0.4) < 1e-6
    assert abs(out["nat_mean"] - energy(nat).mean().item()) < 1e-6
    for k in ("delta_std", "delta_p5", "delta_p95", "joint_delta_mean", "joint_delta_p50", "adv_mean"):
        assert k in out


def test_empty_trace_is_empty():
    assert EnergyTrace().summary() == {}
