"""Shared test helpers: tiny real run configs and study specs (imported as testlib; tests/ is on sys.path)."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

RAY_ENV = ("STUDY_DATA_DIR", "STUDY_CACHE_DIR", "STUDY_OFFLINE")
# test-only modules workers import by path (e.g. gen_helpers:TinyFE, a torch-fidelity feature extractor)
WORKER_PATHS = [str(Path(__file__).parent / "trainables" / "generation")]


def start_local_ray(num_cpus: int = 2, **kwargs):
    """A real local Ray for tests; workers see the test data/cache/offline variables."""
    import ray

    from study.run import env

    env.apply()
    ray.shutdown()
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
             runtime_env={"env_vars": worker_env()}, **kwargs)
    return ray


def worker_env() -> dict[str, str]:
    """What test Ray workers inherit: the data/cache/offline variables and the test-only import paths."""
    env = {k: os.environ[k] for k in RAY_ENV if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([*WORKER_PATHS, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def tiny_run(root: Path | str, **over) -> dict:
    """A run config that trains in about a second per epoch on MNIST (small CNN, tiny subsets)."""
    cfg = {
        "name": "tiny",
        "data": {"name": "mnist", "root": str(root), "train_subset": 512, "val_size": 128, "test_subset": 128},
        "model": {"name": "small_cnn", "width": 8},
        "method": {"name": "fgsm", "epsilon": 51},
        "optim": {"lr": 0.05},
        "schedule": {"name": "constant"},
        "eval": {"val_pgd_steps": 3, "probe_size": 64, "probe_pgd_steps": 3, "test_pgd": [[3, 1]], "autoattack": False,
                 "masking": {"n": 32, "apgd_steps": 20, "square_queries": 50}},
        "epochs": 2,
        "batch_size": 64,
        "seed": 0,
        "threads": 1,
    }
    for path, value in over.items():
        set_nested(cfg, path.split("__"), value)
    return cfg


def set_nested(doc: dict, keys: list[str], value) -> None:
    """doc[k0][k1]...[kn] = value, creating the mappings on the way."""
    for k in keys[:-1]:
        doc = doc.setdefault(k, {})
    doc[keys[-1]] = value


# The tests written before issue 32 set each trial's test reading in run.eval and expect it as written (and no
# answer reading at the study's end); a test of the study-level evaluation passes its own ``evaluation``.
AS_CONFIGURED = {"trials": "as_configured", "answer": {"top": 0}}


def tiny_spec(root: Path, tmp_path: Path, name: str = "tiny", epochs: int = 3, num_samples: int = 3,
              stopping: dict | None = None, search: dict | None = None, resources: dict | None = None,
              evaluation: dict | None = None, **run_over) -> Path:
    run = tiny_run(root, epochs=epochs, **run_over)
    run["data"].pop("root")  # resolved on the workers from STUDY_DATA_DIR, as a user's would be
    run["eval"]["epsilon"] = 51  # the search varies method.epsilon: every trial is scored at one radius
    spec = {
        "name": name,
        "run": run,
        "search": {"parameters": {"der.weight": {"distribution": "loguniform", "low": 0.01, "high": 10},
                                  "method.epsilon": {"distribution": "uniform", "low": 30, "high": 70}},
                   "num_samples": num_samples, "max_concurrent": 2, **(search or {})},
        "stopping": stopping or {"delta_energy": {"enabled": False}, "probe": {"enabled": False}},
        "resources": resources or {"cpu": 1, "max_failures": 0},
        "evaluation": evaluation or AS_CONFIGURED,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
