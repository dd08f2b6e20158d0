"""``study generate`` through ``study.cli.main.main``: a 1-epoch tiny training's checkpoint in, grids and
metrics.json out; ``--run`` reads the checkpoint from an MLflow run and logs back; bad input is exit 2."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from testlib import tiny_run

from study.cli.main import main

HELPERS = Path(__file__).resolve().parents[2] / "trainables" / "generation" / "gen_helpers.py"


def tiny_fe() -> str:
    """The generation tests' tiny feature extractor, registered once whichever test file got here first."""
    mod = sys.modules.get("gen_helpers")
    if mod is None:
        spec = importlib.util.spec_from_file_location("gen_helpers", HELPERS)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["gen_helpers"] = mod
        spec.loader.exec_module(mod)
    return mod.register_tiny_fe()


def text(capsys) -> tuple[str, str]:
    out, err = capsys.readouterr()
    return " ".join(out.split()), " ".join(err.split())


@pytest.fixture(scope="module")
def checkpoint_dir(data_root, tmp_path_factory) -> Path:
    """A real 1-epoch tiny training (MNIST subset, small CNN): its checkpoint/ holds best.pt and state.pt."""
    from trainables.schema.config import RunConfig
    from trainables.training.fit import CKPT_DIR, fit

    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, data__train_subset=300, eval__final=False))
    wd = tmp_path_factory.mktemp("gen-train")
    fit(cfg, wd)
    assert (wd / CKPT_DIR / "best.pt").is_file()
    return wd / CKPT_DIR


@pytest.fixture(scope="module")
def gen_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen-cfg") / "gen.yaml"
    path.write_text(yaml.safe_dump({
        "sampler": {"steps": 3}, "batch_size": 20, "device": "cpu",
        "metrics": {"feature_extractor": tiny_fe(), "kid_subsets": 5, "reference_n": 100},
        "grid": {"per_class": 4, "nrow": 2, "overview_per_class": 4},
    }))
    return path


def test_generate_from_checkpoint(checkpoint_dir, gen_yaml, tmp_path, capsys):
    out = tmp_path / "gen"
    rc = main(["generate", "--checkpoint", str(checkpoint_dir), "--n", "20", "--out", str(out), "--config",
               str(gen_yaml), "--workspace", str(tmp_path / "ws")])
    stdout, err = text(capsys)
    assert rc == 0, err
    assert "fid" in stdout and "metrics.json" in stdout
    assert len(list(out.glob("grid_class*.png"))) == 10 and (out / "grid_all.png").is_file()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["metrics"]["n_samples"] == 20 and summary["metrics"]["fid"] >= 0
    assert summary["config"]["sampler"]["steps"] == 3


def test_generate_from_mlflow_run_logs_back(checkpoint_dir, gen_yaml, tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    ws = tmp_path / "ws"
    ws.mkdir()
    cl = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.create_experiment("s", artifact_location=(ws / "mlartifacts").as_uri())
    run_id = cl.create_run(exp, tags={"checkpoint_path": str(checkpoint_dir)}).info.run_id
    rc = main(["generate", "--run", run_id, "--n", "10", "--config", str(gen_yaml), "--workspace", str(ws)])
    stdout, err = text(capsys)
    assert rc == 0, err
    assert (ws / "generation" / run_id / "metrics.json").is_file()
    metrics = cl.get_run(run_id).data.metrics
    assert {"gen/fid", "gen/kid_mean", "gen/mean_steps", "gen/total_s"} <= set(metrics)
    files = {f.path for f in cl.list_artifacts(run_id, "generation")}
    assert "generation/metrics.json" in files and "generation/grid_all.png" in files


@pytest.mark.parametrize("args, message", [
    ([], "exactly one of --checkpoint PATH and --run RUN_ID"),
    (["--checkpoint", "a", "--run", "b"], "exactly one of --checkpoint PATH and --run RUN_ID"),
    (["--checkpoint", "{tmp}/missing.pt"], "does not exist"),
    (["--checkpoint", "{tmp}"], "no best.pt or state.pt"),
    (["--run", "abc"], "no MLflow database"),
    (["--checkpoint", "{tmp}", "--config", "{tmp}/nope.yaml"], "generation config"),
])
def test_bad_input_is_exit_2(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    rc = main(["generate", *args, "--workspace", str(tmp_path / "ws")])
    stdout, err = text(capsys)
    assert rc == 2
    assert message in err and "Traceback" not in stdout + err


def test_bad_config_key_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sampler: {stepsize: 2}\n")
    assert main(["generate", "--checkpoint", str(tmp_path), "--config", str(bad)]) == 2
    assert "sampler.stepsize" in text(capsys)[1]
