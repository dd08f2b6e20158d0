import pytest

from trainables.config import ScheduleConfig
from trainables.schedules import build_schedule


def test_piecewise_robust_overfitting_recipe():
    f = build_schedule(ScheduleConfig(name="piecewise", milestones=[0.5, 0.75]), 0.1, 200)
    assert f(1) == pytest.approx(0.1)
    assert f(100.0) == pytest.approx(0.1)  # last step of epoch 100 still at 0.1
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
