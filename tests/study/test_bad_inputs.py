"""Bad input → one readable paragraph naming the field or value and the fix, exit code 2, and nothing
created or changed in the workspace. Every case runs the real CLI entry point."""
from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest
import yaml

from study.cli.main import main
from testlib import tiny_spec


def snapshot(ws: Path) -> dict[str, str]:
    if not ws.exists():
        return {}
    return {str(p.relative_to(ws)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(ws.rglob("*"))}


@pytest.fixture()
def env(mnist_env, tmp_path):
    """A valid spec, a workspace path that does not exist yet, and a helper to write variants."""
    spec = tiny_spec(mnist_env, tmp_path, name="good", epochs=1, num_samples=1)
    base = yaml.safe_load(spec.read_text())

    def variant(mutate=None, text=None) -> str:
        p = tmp_path / "variant.yaml"
        if text is not None:
            p.write_text(text)
        else:
            doc = yaml.safe_load(yaml.safe_dump(base))
            mutate(doc)
            p.write_text(yaml.safe_dump(doc))
        return str(p)

    return {"spec": str(spec), "ws": tmp_path / "ws", "variant": variant, "tmp": tmp_path}


def set_(path, value):
    def f(doc):
        node = doc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return f


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = {
    # spec files
    "invalid YAML": (lambda e: ["run", e["variant"](text="run: [1, 2\n")], ["not valid YAML"]),
    "spec not a mapping": (lambda e: ["run", e["variant"](text="- 1\n- 2\n")], ["must hold a mapping"]),
    "missing spec file": (lambda e: ["run", str(e["tmp"] / "nope.yaml")], ["does not exist"]),
    "unknown method": (lambda e: ["run", e["variant"](set_("run.method.name", "fgsn"))], ["fgsn", "rs_fgsm"]),
    "unknown attack": (lambda e: ["run", e["variant"](set_("run.method.attack", "cw"))], ["method.attack", "pgd"]),
    "unknown dataset": (lambda e: ["run", e["variant"](set_("run.data.name", "imagenet21k"))], ["imagenet21k", "mnist"]),
    "unknown model": (lambda e: ["run", e["variant"](set_("run.model.name", "vit"))], ["vit", "preact_resnet18"]),
    "zero epsilon": (lambda e: ["run", e["variant"](set_("run.method.epsilon", 0))], ["run.method.epsilon", "greater than 0"]),
    "negative epsilon": (lambda e: ["run", e["variant"](set_("run.method.epsilon", -8))], ["run.method.epsilon"]),
    "low > high": (lambda e: ["run", e["variant"](set_("search.parameters.der\\.weight", None) if False else
                   set_("search.parameters", {"der.weight": {"distribution": "uniform", "low": 2, "high": 1}}))],
                   ["der.weight", "must be < high"]),
    "empty choice": (lambda e: ["run", e["variant"](set_("search.parameters", {"method.name": {"distribution": "choice", "values": []}}))],
                     ["at least one value"]),
    "unknown search parameter": (lambda e: ["run", e["variant"](set_("search.parameters", {"der.wieght": {"distribution": "uniform", "low": 0, "high": 1}}))],
                                 ["der.wieght", "not a field"]),
    "unknown metric": (lambda e: ["run", e["variant"](set_("search.metric", "val/robust"))], ["unknown metric", "val/pgd_acc"]),
    "unknown stopping key": (lambda e: ["run", e["variant"](set_("stopping.delta_energy.treshold", 3))], ["treshold"]),
    "negative gpu": (lambda e: ["run", e["variant"](set_("resources.gpu", -1))], ["resources.gpu"]),
    "bad study name": (lambda e: ["run", e["spec"], "--name", "a b/c"], ["study name", "letters"]),
    # stores and cluster
    "storage URL not a URL": (lambda e: ["run", e["spec"], "--optuna-storage", "optuna.db"], ["Optuna storage", "sqlite:///"]),
    "storage driver missing": (lambda e: ["run", e["spec"], "--optuna-storage", "mysql+nodriver://u:pw@h/db"], ["driver", "u:***@"]),
    "unreachable PostgreSQL": (lambda e: ["run", e["spec"], "--optuna-storage",
                               f"postgresql+psycopg://u:hunter2@127.0.0.1:{_closed_port()}/optuna"], ["cannot connect", "u:***@"]),
    "bad MLflow URI": (lambda e: ["run", e["spec"], "--mlflow-uri", "ftp://host/x"], ["MLflow", "http://host:port"]),
    "same DB for Optuna and MLflow": (lambda e: ["run", e["spec"], "--optuna-storage", f"sqlite:///{e['tmp']}/x.db",
                                      "--mlflow-uri", f"sqlite:///{e['tmp']}/x.db"], ["cannot share one database"]),
    "unreachable Ray address": (lambda e: ["run", e["spec"], "--ray-address", f"127.0.0.1:{_closed_port()}"],
                                ["cannot reach a Ray cluster", "ray start --head"]),
    "malformed Ray address": (lambda e: ["run", e["spec"], "--ray-address", "headnode"], ["not host:port"]),
    "local resources with a cluster": (lambda e: ["run", e["spec"], "--ray-address", "auto", "--num-cpus", "2"], ["--num-cpus"]),
    "zero samples": (lambda e: ["run", e["spec"], "--num-samples", "0"], ["--num-samples"]),
    "missing data offline": (lambda e: ["run", e["variant"](set_("run.data.root", str(e["tmp"] / "empty-data")))],
                             ["dataset 'mnist' not found", "STUDY_DATA_DIR"]),
    # other commands
    "resume unknown study": (lambda e: ["resume", "nope", "--workspace", str(e["ws"])], ["no studies in workspace"]),
    "status unknown study": (lambda e: ["status", "nope", "--workspace", str(e["ws"])], ["no studies in workspace"]),
    "train missing config": (lambda e: ["train", str(e["tmp"] / "nope.yaml")], ["does not exist"]),
    "train config typo": (lambda e: ["train", e["variant"](text="epochz: 3\n")], ["epochz", "Extra inputs"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_a_clear_message_and_changes_nothing(case, env, capsys):
    argv_of, needles = CASES[case]
    argv = argv_of(env)
    if "--workspace" not in argv:
        argv += ["--workspace", str(env["ws"])]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    flat = " ".join(err.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in: {flat}"
    assert "Traceback" not in err
    assert "hunter2" not in err and ":pw@" not in err  # passwords never shown
    assert not env["ws"].exists()  # nothing created


def test_unwritable_workspace(env):
    """A workspace inside a read-only folder. Root ignores mode bits, so as root the CLI runs without
    CAP_DAC_OVERRIDE (util-linux `setpriv`), which makes the kernel apply them."""
    import shutil
    import subprocess
    import sys

    ro = env["tmp"] / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    code = f"import sys; from study.cli.main import main; sys.exit(main(['run', {env['spec']!r}, '--workspace', {str(ro / 'ws')!r}]))"
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without util-linux setpriv to drop CAP_DAC_OVERRIDE")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        flat = " ".join(proc.stderr.split())
        assert "not writable" in flat and "--workspace" in flat
        assert not (ro / "ws").exists()
    finally:
        ro.chmod(0o755)


def test_workspace_is_a_file(env, capsys):
    f = env["tmp"] / "afile"
    f.write_text("x")
    assert main(["run", env["spec"], "--workspace", str(f / "ws")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_bad_input_leaves_an_existing_study_untouched(env, capsys, local_ray):
    """A study exists; a second, bad command against the same workspace changes none of its files."""
    assert main(["run", env["spec"], "--workspace", str(env["ws"]), "--smoke"]) == 0
    before = snapshot(env["ws"])
    for argv in (["run", env["variant"](set_("run.method.epsilon", -1))],
                 ["run", env["spec"]],  # the name exists already
                 ["run", env["spec"], "--name", "other", "--ray-address", f"127.0.0.1:{_closed_port()}"],
                 ["status", "nope"]):
        assert main(argv + ["--workspace", str(env["ws"])]) == 2
    assert snapshot(env["ws"]) == before
