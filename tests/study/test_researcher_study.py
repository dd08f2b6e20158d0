"""A researcher's own study (issue 32) on real processes (local Ray, SQLite Optuna and MLflow, MNIST): the answer
read once at its end and later by ``study evaluate``, recorded in Optuna, MLflow, status, export and the report,
and two of its trials compared by ``study compare``."""
from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest
import torch

from study.cli.main import main
from study.tracking.common import TRIAL_TAG, client
from testlib import tiny_spec
from trainables.schema import records as R

STUDY = "own"
ANSWER = {"top": 1, "images": 64, "pgd": [[5, 2]], "autoattack": "apgd", "at_end": "full"}  # small: a test


@pytest.fixture(scope="module")
def own(mnist_env, tmp_path_factory, local_ray):
    """`study run` of 3 trials x 2 epochs: each trial reads test cheaply (the default), the best one's answer is
    read at the end; (workspace, the console output)."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("own")
    spec = tiny_spec(mnist_env, tmp, name=STUDY, epochs=2, num_samples=3, evaluation={"answer": ANSWER},
                     deterministic=True)
    ws = tmp / "ws"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["run", str(spec), "--workspace", str(ws)]) == 0, buf.getvalue()[-3000:]
    return ws, buf.getvalue()


def _study(ws: Path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{ws / 'optuna.db'}")


def _runs(ws: Path) -> dict:
    cl = client(f"sqlite:///{ws / 'mlflow.db'}")
    exp = cl.get_experiment_by_name(STUDY)
    return {r.data.tags[TRIAL_TAG]: r for r in cl.search_runs([exp.experiment_id]) if TRIAL_TAG in r.data.tags}


def test_each_trial_read_test_cheaply(own):
    ws, out = own
    for t in _study(ws).trials:
        keys = {k for k in t.user_attrs["metrics"] if k.startswith(R.TEST_PREFIX) and k.endswith("_acc")}
        assert keys == {f"test/{w}/{m}" for w in ("best", "last") for m in ("clean_acc", "pgd20x1_acc")}, keys
    assert "each trial read on test by clean and PGD-20 accuracy (128 images)" in out


def test_the_answer_is_read_at_the_end_with_progress_lines(own):
    """The best configuration's best.pt, read by clean, PGD-5x2 and APGD on 64 test images, each step said."""
    ws, out = own
    study = _study(ws)
    best = study.best_trial
    answer = study.user_attrs["answer"]
    assert answer["settings"] == {"images": 64, "pgd": [[5, 2]], "autoattack": "apgd"}
    assert answer["ranked_by"] == R.BEST_VAL_ROBUST and list(answer["trials"]) == [str(best.number)]
    entry = answer["trials"][str(best.number)]
    assert entry["rank"] == 1 and entry["objective"] == best.value
    assert entry["epochs"] == [best.user_attrs["metrics"][R.BEST_EPOCH]]  # the selected epoch's weights
    m = entry["metrics"]
    assert set(m) == {"test/answer/clean_acc", "test/answer/pgd5x2_acc", "test/answer/apgd_ce_t_acc"}
    assert 0 <= m["test/answer/pgd5x2_acc"] <= m["test/answer/clean_acc"] <= 1
    assert m["test/answer/apgd_ce_t_acc"] <= m["test/answer/clean_acc"]
    lines = out.splitlines()
    assert any(re.match(rf"trial {best.number} \(rank 1\): best\.pt of epoch \d+ \(checkpoint_\d+\); clean, PGD-5x2, "
                        r"AutoAttack \(APGD-CE \+ APGD-T\) on 64 test images", x) for x in lines), out
    assert any(re.match(rf"  trial {best.number} \(rank 1\): PGD-5x2 on 64 images: [\d.]+% \([\d.]+ s\)", x)
               for x in lines), out
    assert "the study's answer: test reading on 64 images" in out  # its table, before the next steps
    assert out.index("the study's answer: test reading") < out.index("next steps:")


def test_the_answer_reads_the_selected_checkpoint_as_an_independent_reader_does(own, mnist_env):
    """Clean accuracy of best.pt on the first 64 test images, recomputed here from the file, equals the answer's."""
    from study.stores.catalog import Catalog
    from trainables.schema.config import RunConfig
    from trainables.data import build_data
    from trainables.models import build_from_config

    ws, _ = own
    study = _study(ws)
    entry = study.user_attrs["answer"]["trials"][str(study.best_trial.number)]
    (seed,) = entry["seeds"]
    path = Path(seed["checkpoint"])
    assert path.name == "best.pt" and path.is_relative_to(Path(Catalog.open(ws).get(STUDY).storage_path) / STUDY)
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = RunConfig.model_validate_json(state["config_json"])
    data = build_data(cfg.data.model_copy(update={"root": str(mnist_env), "test_subset": None}), 64)
    model = build_from_config(cfg.model, data.num_classes, data.in_channels, data.mean, data.std, data.image_size)
    model.load_state_dict(state["model"])
    model.eval()
    x, y = next(iter(data.test_batches(64, limit=64)))
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert clean == seed["metrics"]["test/answer/clean_acc"] and seed["epoch"] == state["epoch"]


def test_the_answer_is_in_mlflow_status_export_and_the_report(own, tmp_path, capsys):
    ws, _ = own
    study = _study(ws)
    best = study.best_trial
    entry = study.user_attrs["answer"]["trials"][str(best.number)]
    run = _runs(ws)[best.user_attrs["ray_trial_ids"][0]]
    for k, v in entry["seeds"][0]["metrics"].items():
        assert run.data.metrics[k] == pytest.approx(v)
    assert run.data.metrics["test/answer/epoch"] == entry["epochs"][0] and run.data.tags["answer.rank"] == "1"
    cl = client(f"sqlite:///{ws / 'mlflow.db'}")
    from study.stores.catalog import Catalog

    parent = Catalog.open(ws).get(STUDY).mlflow_parent_run_id
    assert json.loads(Path(cl.download_artifacts(parent, "answer.json", str(tmp_path))).read_text()) == \
        study.user_attrs["answer"]

    assert main(["status", STUDY, "--workspace", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "the study's answer: test reading on 64 images" in out and "best/epoch" in out
    assert "best/val_robust_acc is the reading of each trial's selected epoch" in " ".join(out.split())
    assert main(["status", STUDY, "--workspace", str(ws), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["trials"]
    assert next(r for r in rows if r["number"] == best.number)["answer"]["metrics"] == entry["metrics"]

    assert main(["export", STUDY, "--workspace", str(ws), "--out", str(tmp_path / "exp"), "--top", "1"]) == 0
    header = (tmp_path / "exp" / f"trial_{best.number}.yaml").read_text().split("\nname:")[0]
    clean = 100 * entry["metrics"]["test/answer/clean_acc"]
    assert f"# test reading (the study's answer): clean {clean:.1f}%" in header and "on 64 test images" in header

    assert main(["report", STUDY, "--workspace", str(ws), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    answer = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, re.S))["answer"]
    assert f'<tr data-trial="{best.number}">' in answer and f"{clean:.1f}%" in answer


def test_study_evaluate_reads_more_configurations_and_keeps_what_it_read(own, capsys):
    ws, _ = own
    assert main(["evaluate", STUDY, "--workspace", str(ws), "--top", "2", "--images", "64"]) == 0
    out = capsys.readouterr().out
    study = _study(ws)
    answer = study.user_attrs["answer"]
    ranked = sorted((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: (-t.value, t.number))
    assert [answer["trials"][str(t.number)]["rank"] for t in ranked[:2]] == [1, 2]
    assert f"trial {ranked[0].number} (rank 1): already read with these settings" in out  # not read twice
    assert f"trial {ranked[1].number} (rank 2): best.pt of epoch" in out
    assert "read 1 configuration(s)" in out


def test_study_evaluate_refuses_what_it_cannot_read(own, capsys):
    ws, _ = own
    assert main(["evaluate", "nope", "--workspace", str(ws)]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    assert main(["evaluate", STUDY, "--workspace", str(ws), "--top", "0"]) == 2


# ---------------------------------------------------------------- study compare

def test_study_compare_two_trials(own, tmp_path, capsys):
    ws, _ = own
    study = _study(ws)
    a, b = sorted(t.number for t in study.trials)[:2]
    page = tmp_path / "cmp.html"
    assert main(["compare", STUDY, str(a), str(b), "--workspace", str(ws), "--out", str(page),
                 "--mlflow-ui-url", "http://mlflow.example:5001"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    rows = [x.split() for x in lines if x.strip().endswith(("differs", "same"))]
    assert [r[0] for r in rows[:2]] == ["der.weight", "method.epsilon"] and rows[0][-1] == "differs"
    assert all(r[-1] == "differs" for r in rows[:2]) and "name" not in [r[0] for r in rows]
    assert re.search(r"\d+ other settings are the same \(--all lists them\)", out)
    assert f"trial {a}: COMPLETE; best/val_robust_acc" in out and "selected epoch" in out
    runs = _runs(ws)
    ids = [runs[t.user_attrs["ray_trial_ids"][0]].info.run_id for t in (study.trials[a], study.trials[b])]
    link = next(x for x in lines if x.startswith("MLflow compare")).split(": ", 1)[1]
    assert link.startswith("http://mlflow.example:5001/#/compare-runs?runs=") and all(i in link for i in ids)
    assert "workflowType=machine_learning" in link
    html = page.read_text(encoding="utf-8")
    fig = json.loads(re.search(r'class="figure-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    robust = {tr["meta"]["trial"]: tr for tr in fig["data"] if tr["meta"]["metric"] == R.VAL_ROBUST_ACC}
    cl = client(f"sqlite:///{ws / 'mlflow.db'}")
    for n, run_id in zip((a, b), ids):
        hist = sorted((m.step, 100 * m.value) for m in cl.get_metric_history(run_id, R.VAL_ROBUST_ACC))
        assert list(robust[n]["x"]) == [e for e, _ in hist] == [1, 2]
        assert list(robust[n]["y"]) == pytest.approx([v for _, v in hist])  # in %, from MLflow
    axes = {k: v for k, v in fig["layout"].items() if k.startswith("xaxis")}
    shared = {v.get("matches") or k.replace("axis", "") for k, v in axes.items()}
    assert len(axes) >= 2 and len(shared) == 1, axes  # every panel on one epoch axis
    assert 'class="mlflow-compare"' in html and "differs" in html


def test_study_compare_refuses_bad_trials(own, capsys):
    ws, _ = own
    assert main(["compare", STUDY, "0", "0", "--workspace", str(ws)]) == 2
    assert "two different trial numbers" in capsys.readouterr().err
    assert main(["compare", STUDY, "0", "99", "--workspace", str(ws)]) == 2
    assert "has no trial 99 (its trials: 0, 1, 2)" in " ".join(capsys.readouterr().err.split())
