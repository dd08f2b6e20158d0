"""Fixtures for study-level tests: a local Ray session and a tiny real study spec."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray for the module (2 logical CPUs, dashboard off)."""
    import ray

    from study import env

    env.apply()
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
             runtime_env={"env_vars": {k: os.environ[k] for k in ("STUDY_DATA_DIR", "STUDY_CACHE_DIR", "STUDY_OFFLINE")
                                       if k in os.environ}})
    yield ray
    ray.shutdown()


