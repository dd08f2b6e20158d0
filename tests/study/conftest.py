"""Fixtures for study-level tests: a local Ray session and a tiny real study spec."""
from __future__ import annotations

import pytest

from testlib import start_local_ray


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray for the module (2 logical CPUs, dashboard off)."""
    ray = start_local_ray()
    yield ray
    ray.shutdown()
