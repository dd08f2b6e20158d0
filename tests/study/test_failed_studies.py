"""A study whose trials all fail exits 1 and says why, once per cause, with the trials each cause hit and
where the tracebacks are; Ray's traceback wall goes to the study's log file, not the console.

The failures are real: the pre-flight on the driver sees the data (``STUDY_DATA_DIR``), but the Ray
workers are started with another data dir where MNIST is missing and Fashion-MNIST's archives are
truncated, as on a cluster whose nodes lack the data.
"""
from __future__ import annotations

import os
import re
import shutil

import optuna
import pytest

from study.stores.catalog import Catalog
from study.cli.main import main
from testlib import tiny_spec, worker_env

pytestmark = pytest.mark.slow
CAUSES = {"mnist": "DatasetNotFoundError: dataset 'mnist' not found",
          "fashion_mnist": "DatasetNotFoundError: dataset 'fashion_mnist': could not extract"}


@pytest.fixture(scope="module")
def broken_workers(mnist_env, tmp_path_factory):
    """A local Ray whose workers look for data in a folder with no MNIST and a truncated Fashion-MNIST."""
    import ray

    root = tmp_path_factory.mktemp("worker-data")
    src = mnist_env / "FashionMNIST" / "raw"
    (root / "FashionMNIST" / "raw").mkdir(parents=True)
    for gz in src.glob("*.gz"):
        (root / "FashionMNIST" / "raw" / gz.name).write_bytes(gz.read_bytes()[:200])
    env = {**worker_env(), "STUDY_DATA_DIR": str(root), "STUDY_CACHE_DIR": str(root / "cache")}
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 << 20,
             runtime_env={"env_vars": env})
    yield root
    ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)


def _expected(ws, name) -> dict[str, list[str]]:
    """cause -> trial numbers, from what Optuna says each trial sampled."""
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{ws / 'optuna.db'}")
    out: dict[str, list[str]] = {}
    for t in study.trials:
        out.setdefault(CAUSES[t.params.get("data.name", "mnist")], []).append(str(t.number))
    return out


def _summary_lines(text: str) -> dict[str, list[str]]:
    lines = {}
    for m in re.finditer(r"^ *trials? ([0-9, ]+): (.+)$", text, re.M):
        lines[m.group(2)] = [n.strip() for n in m.group(1).split(",")]
    return lines


def _check_summary(out: str, err: str, ws, name: str, trials: int) -> None:
    flat = " ".join(out.split())
    assert f"every trial failed ({trials} of {trials})" in flat, out
    log = ws / "logs" / f"{name}.log"
    assert f"full tracebacks: {log}" in flat and f"{ws / 'ray' / name}/" in flat
    assert "Traceback" not in out + err  # the wall is in the log file
    assert "Traceback" in log.read_text() and "Trial task failed" in log.read_text()
    expected = _expected(ws, name)
    got = {}
    for cause, numbers in _summary_lines(out).items():
        prefix = [e for e in expected if cause.startswith(e)]
        assert len(prefix) == 1, (cause, expected)
        got[prefix[0]] = sorted(numbers, key=int)
    assert got == {c: sorted(n, key=int) for c, n in expected.items()}, (got, expected)


def test_a_study_whose_trials_all_fail_exits_1_with_one_line_per_cause(broken_workers, mnist_env, tmp_path, capfd):
    search = {"parameters": {"data.name": {"distribution": "choice", "values": ["mnist", "fashion_mnist"]}},
              "sampler": "random", "num_samples": 4, "max_concurrent": 2}
    spec = tiny_spec(mnist_env, tmp_path, name="broken", epochs=1, num_samples=4, search=search)
    ws = tmp_path / "ws"
    assert main(["run", str(spec), "--workspace", str(ws)]) == 1
    out, err = capfd.readouterr()
    _check_summary(out, err, ws, "broken", 4)
    assert len(_summary_lines(out)) == 2  # both causes were sampled (random sampler, seed 0)
    assert Catalog.open(ws).get("broken").status == "failed"

    # resuming it runs nothing new and says the same
    assert main(["resume", "broken", "--workspace", str(ws)]) == 1
    out, err = capfd.readouterr()
    _check_summary(out, err, ws, "broken", 4)


def test_failed_seeds_are_named_by_trial_and_seed(broken_workers, mnist_env, tmp_path, capfd):
    spec = tiny_spec(mnist_env, tmp_path, name="seeds", epochs=1, num_samples=1,
                     search={"parameters": {"der.weight": {"distribution": "uniform", "low": 0, "high": 1}},
                             "seeds": 2})
    ws = tmp_path / "ws"
    assert main(["run", str(spec), "--workspace", str(ws)]) == 1
    out, err = capfd.readouterr()
    flat = " ".join(out.split())
    assert "every trial failed (2 of 2)" in flat
    assert re.search(r"trials (0, 0 \(seed 1\)|0 \(seed 1\), 0): " + re.escape(CAUSES["mnist"]), flat), flat
    assert "Traceback" not in out + err
    assert os.path.isfile(ws / "logs" / "seeds.log")
