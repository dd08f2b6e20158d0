import pytest

from trainables.schema.config import ScheduleConfig
from trainables.training.schedules import build_schedule


def test_piecewise_robust_overfitting_recipe():
    f = build_schedule(ScheduleConfig(name="piecewise", milestones=[0.5, 0.75]), 0.1, 200)
    assert f(1) == pytest.approx(0.1)
    assert f(100.0) == pytest.approx(0.1)  # default epoch_start: epoch 100 ends at 0.1 (the script: 0.01)
    assert f(100.01) == pytest.approx(0.01)
    assert f(150.5) == pytest.approx(0.001)


def test_cyclic_triangle():
    f = build_schedule(ScheduleConfig(name="cyclic", warmup_fraction=0.4), 0.2, 10)
    assert f(0) == 0 and f(4) == pytest.approx(0.2) and f(10) == pytest.approx(0.0)
    assert f(2) == pytest.approx(0.1) and f(7) == pytest.approx(0.1)


def test_cosine_and_constant():
    f = build_schedule(ScheduleConfig(name="cosine"), 0.1, 10)
    assert f(0) == pytest.approx(0.1) and f(5) == pytest.approx(0.05) and f(10) == pytest.approx(0.0, abs=1e-12)
    assert build_schedule(ScheduleConfig(name="constant"), 0.3, 10)(7) == 0.3


def test_piecewise_reached_is_robust_overfittings_lr_schedule():
    """milestone_drop "reached": robust_overfitting's lr_schedule(t) (lower once t / epochs ≥ m) exactly, so the
    last step of epoch 100 (t = 100.0) already runs at 0.01, one step before the default's drop."""
    cfg = ScheduleConfig(name="piecewise", milestones=[0.5, 0.75], milestone_drop="reached")
    f = build_schedule(cfg, 0.1, 200)
    assert f(99.99) == pytest.approx(0.1) and f(100.0) == pytest.approx(0.01) and f(150.0) == pytest.approx(0.001)
    steps = 391
    for e in (0, 99, 100, 149, 150, 199):  # every step of these epochs, against the script's function
        for i in range(steps):
            t = e + (i + 1) / steps
            script = 0.1 if t / 200 < 0.5 else 0.1 / 10 if t / 200 < 0.75 else 0.1 / 100
            assert f(t) == pytest.approx(script, rel=1e-12)
