"""Bad input against existing state, refused by the pre-flight with exit code 2 and nothing changed: a Ray
that is already running (its per-node view decides), a two-node cluster where no single node holds a
trial, an existing study's workspace, a damaged catalog, an unwritable workspace, and a generation
study whose classifier does not match its data."""
from __future__ import annotations

import os

import pytest

from badinputs import closed_port, image_folder, make_env, set_, snapshot
from study.cli.main import main
from test_cluster import two_node_cluster  # noqa: F401  (the fixture: `ray start` twice on loopback)


@pytest.fixture()
def env(mnist_env, tmp_path):
    return make_env(mnist_env, tmp_path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("resources, needles", [
    ({"cpu": 3}, ["asks for 3 CPU", "no node of this machine's Ray", "2 CPU, 0 GPU"]),
    ({"cpu": 1, "gpu": 1}, ["1 GPU", "in all 2 CPU, 0 GPU"]),
    ({"cpu": 2.5}, ["2.5 CPU"]),
])
def test_unsatisfiable_resources_on_a_running_ray_are_refused_from_its_nodes(resources, needles, env, capsys,
                                                                             local_ray):
    """Ray is already up (2 CPUs, no GPU): the per-node view of `ray.nodes()` decides, in seconds."""
    rc = main(["run", env["variant"](set_("resources", resources)), "--workspace", str(env["ws"])])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2, err
    assert all(n in err for n in needles), err
    assert "Traceback" not in err and not env["ws"].exists()
    assert local_ray.is_initialized()  # a Ray we did not start is left alone


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
    capsys.readouterr()
    v = env["variant"]
    for argv, needle in (
            (["run", v(set_("run/method/epsilon", -1), name="v1.yaml")], "run.method.epsilon"),
            (["run", env["spec"]], "already exists"),  # the name exists already
            (["run", v(set_("resources/cpu", 64), name="v2.yaml"), "--name", "other"], "asks for 64 CPU"),
            (["run", v(set_("run/data/val_size", 60000), name="v3.yaml"), "--name", "other"], "data.val_size=60000"),
            (["run", v(text="", name="v4.yaml"), "--name", "other"], "is empty"),
            (["run", env["spec"], "--name", "other", "--ray-address", f"127.0.0.1:{closed_port()}"], "cannot reach"),
            (["status", "goood"], "did you mean 'good'?"),
            (["resume", "god"], "did you mean 'good'?"),
            (["status", "nope"], "no study named 'nope'")):
        assert main(argv + ["--workspace", str(env["ws"])]) == 2, argv
        err = " ".join(capsys.readouterr().err.split())
        assert needle in err and "Traceback" not in err, (argv, err)
    assert snapshot(env["ws"]) == before


def test_a_damaged_catalog_is_named_and_left_alone(env, capsys):
    ws = env["ws"]
    ws.mkdir()
    (ws / "catalog.db").write_bytes(b"this is not an SQLite file" * 100)
    before = snapshot(ws)
    for argv in (["list"], ["status", "x"], ["run", env["spec"]]):
        assert main(argv + ["--workspace", str(ws)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "catalog.db is not a readable study catalog" in err and "Traceback" not in err, err
    assert snapshot(ws) == before


@pytest.fixture(scope="module")
def folder_classifier(tmp_path_factory):
    """A real 1-epoch small CNN trained on a tiny 3-class imagefolder of 8x8 colour images."""
    from trainables.schema.config import RunConfig
    from trainables.training.fit import fit

    tmp = tmp_path_factory.mktemp("folder-clf")
    root = image_folder(tmp / "data", {"a": (8, 8), "b": (8, 8), "c": (8, 8)}, per_class=4)
    mp = pytest.MonkeyPatch()
    mp.setenv("STUDY_CACHE_DIR", str(tmp / "cache"))  # its decoded copy stays out of the session's cache
    cfg = RunConfig.model_validate({
        "name": "f", "data": {"name": "imagefolder", "root": str(root), "val_size": 0},
        "model": {"name": "small_cnn", "width": 4}, "method": {"name": "fgsm", "epsilon": 8},
        "schedule": {"name": "constant"}, "epochs": 1, "batch_size": 6, "threads": 1,
        "eval": {"final": False, "val_pgd_steps": 1, "probe_size": 4, "probe_pgd_steps": 1, "autoattack": False}})
    try:
        fit(cfg, tmp / "run")
    finally:
        mp.undo()
    return tmp / "run" / "checkpoint", tmp


def _gen_spec(tmp, checkpoint, data_root) -> str:
    import yaml

    spec = {"name": "gen", "kind": "generate",
            "generation": {"checkpoint": str(checkpoint), "data_root": str(data_root),
                           "config": {"n": 6, "metrics": {"fid": False, "kid": False, "isc": False}}},
            "search": {"parameters": {"init.sigma": {"distribution": "uniform", "low": 0.001, "high": 0.05}},
                       "num_samples": 1, "metric": "gen/fid", "mode": "min"},
            "resources": {"cpu": 1, "max_failures": 0}}
    path = tmp / "gen.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.mark.parametrize("make_data, needles", [
    (lambda d: image_folder(d, {"a": (8, 8), "b": (8, 8)}), ["trained with 3 classes", "has 2", "generation.data_root"]),
    (lambda d: image_folder(d, {"a": (8, 8), "b": (8, 8), "c": (8, 8)}, mode="L"),
     ["trained with 3 image channels", "has 1"]),
    (lambda d: d, ["the classifier's dataset", "no train/ folder", "set generation.data_root"]),
])
def test_a_generation_classifier_must_match_its_data(make_data, needles, folder_classifier, tmp_path, capsys):
    checkpoint, _ = folder_classifier
    data = tmp_path / "other-data"
    data.mkdir()
    make_data(data)
    ws = tmp_path / "ws"
    assert main(["run", _gen_spec(tmp_path, checkpoint, data), "--workspace", str(ws)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert all(n in err for n in needles), err
    assert "Traceback" not in err and not ws.exists()


@pytest.mark.slow
def test_a_trial_bigger_than_every_node_of_a_cluster_is_refused(two_node_cluster, env, capsys):
    """Two nodes of 2 CPUs: 4 CPUs in all, but a 3-CPU trial fits on neither (a trial runs on one node)."""
    rc = main(["run", env["variant"](set_("resources/cpu", 3)), "--workspace", str(env["ws"]),
               "--ray-address", two_node_cluster])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 2, err
    assert "asks for 3 CPU" in err and "no node of the Ray cluster" in err and "in all 4 CPU" in err, err
    assert err.count(": 2 CPU, 0 GPU") == 2 and "ray start --address" in err
    assert "Traceback" not in err and not env["ws"].exists()


def test_a_run_folder_is_not_resumed_under_an_edited_config(env, capsys):
    """`study train` into a run folder whose checkpoint was trained under other settings: exit 2, the settings named,
    the run's records untouched (trainables/training/drift.py)."""
    first = env["variant"](doc=env["run"], name="run.yaml")
    assert main(["train", first, "--workspace", str(env["ws"]), "--name", "r"]) == 0
    records = (env["ws"] / "runs" / "r" / "records.jsonl").read_text()
    edited = env["variant"](set_("der/weight", 0.5), doc=env["run"], name="edited.yaml")
    capsys.readouterr()
    assert main(["train", edited, "--workspace", str(env["ws"]), "--name", "r", "--epochs", "2"]) == 2
    flat = " ".join(capsys.readouterr().err.split())
    assert "resuming would change der.weight" in flat and "start the run over" in flat
    assert (env["ws"] / "runs" / "r" / "records.jsonl").read_text() == records
