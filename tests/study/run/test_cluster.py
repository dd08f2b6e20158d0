"""Ray resource handling on real Ray sessions: fractional logical GPUs, and a two-node cluster on loopback."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest

from study.run.engine import run_study
from study.run.options import resolve_options
from study.spec.spec import load_spec
from testlib import start_local_ray, tiny_spec
from study.tracking.server import free_port

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")


def test_quarter_gpus_pack_four_trials_and_fall_back_to_cpu(mnist_env, tmp_path):
    """Ray is given 1 logical GPU and no physical one: four gpu=0.25 trials must run at once, on CPU."""
    ray = start_local_ray(num_cpus=4, num_gpus=1)
    try:
        spec = load_spec(tiny_spec(mnist_env, tmp_path, name="gpu", epochs=3, num_samples=4,
                                   search={"max_concurrent": 4}, resources={"cpu": 1, "gpu": 0.25}))
        opts = resolve_options(str(tmp_path / "ws"))
        used: list[float] = []
        runner = threading.Thread(target=run_study, args=(spec, "gpu", opts))
        runner.start()
        while runner.is_alive():
            used.append(1.0 - ray.available_resources().get("GPU", 0.0))  # the key vanishes at 0
            time.sleep(0.2)
        runner.join()
        assert max(used) == pytest.approx(1.0)  # 4 × 0.25 GPU in use at one moment: four trials at once
        study = optuna.load_study(study_name="gpu", storage=opts.optuna_storage)
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4  # the trainable ran on CPU
    finally:
        ray.shutdown()


@pytest.fixture()
def two_node_cluster(mnist_env):
    """`ray start --head` plus a second `ray start --address`, loopback, own temp dirs and ports."""
    import tempfile

    import ray

    ray.shutdown()
    tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # AF_UNIX socket paths must stay < 108 bytes
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "2", "--disable-usage-stats"]
    groups = []
    head = subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                             "--temp-dir", str(tmp / "head"), *common], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    groups.append(head.pid)
    try:
        assert head.wait(120) == 0, head.stdout.read()
        worker = subprocess.Popen([RAY, "start", "--address", f"127.0.0.1:{port}", "--temp-dir",
                                   str(tmp / "worker"), *common], env=env, start_new_session=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        groups.append(worker.pid)
        assert worker.wait(120) == 0, worker.stdout.read()
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        for pgid in groups:  # only this cluster's processes: never a global `ray stop`
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def test_two_node_cluster_runs_trials_on_both_nodes(two_node_cluster, mnist_env, tmp_path):
    """The CLI, as a user runs it against a cluster: `study run --ray-address host:port`."""
    spec = tiny_spec(mnist_env, tmp_path, name="cluster", epochs=2, num_samples=4, search={"max_concurrent": 4},
                     resources={"cpu": 1, "max_failures": 0})
    ws = tmp_path / "ws"
    study = Path(sys.executable).parent / "study"
    proc = subprocess.run([str(study), "run", str(spec), "--workspace", str(ws), "--ray-address", two_node_cluster],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    storage = f"sqlite:///{ws / 'optuna.db'}"
    trials = optuna.load_study(study_name="cluster", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    nodes = set()
    for result in (ws / "ray" / "cluster").glob("trial_*/result.json"):
        nodes |= {json.loads(line)["node_id"] for line in result.read_text().splitlines() if line.strip()}
    assert len(nodes) == 2
