"""``study report`` on a real tiny study (local Ray, SQLite Optuna, SQLite MLflow, MNIST): page structure,
the data behind each figure, the trial table, and the figure logic on hand-built inputs."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import optuna
import pytest

from dashboards.data import (COMPLETED, DELTA_ENERGY, NAN, PROBE, PRUNED, RunData, StudyData, TrialData,
                             load_study, run_outcome, trial_outcome)
from dashboards.figures.histories import history_figure
from dashboards.figures.rule_view import rule_view_figure
from dashboards.figures.importance import importance_figure
from dashboards.figures.pareto import pareto_front
from dashboards.report import SECTION_IDS, TABLE_SECTIONS, build_sections
from study.cli.main import main
from study.spec.spec import StudySpec
from study.tracking.common import TRIAL_TAG, client
from testlib import tiny_spec
from trainables.schema import records as R

STUDY = "tiny"
UI = "http://mlflow.example:5001"


@pytest.fixture(scope="module")
def page(tiny_study, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report") / "tiny.html"
    assert main(["report", STUDY, "--workspace", str(tiny_study), "--out", str(out), "--mlflow-ui-url", UI + "/"]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def optuna_study(tiny_study):
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tiny_study / 'optuna.db'}")


@pytest.fixture(scope="module")
def mlflow(tiny_study):
    cl = client(f"sqlite:///{tiny_study / 'mlflow.db'}")
    exp = cl.get_experiment_by_name(STUDY)
    runs = {r.data.tags[TRIAL_TAG]: r for r in cl.search_runs([exp.experiment_id]) if TRIAL_TAG in r.data.tags}
    return cl, exp.experiment_id, runs


def sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', html, re.S))


def figures(body: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" class="figure-data" data-target="([^"]+)">(.*?)</script>',
                       body, re.S)
    return {target: json.loads(text) for target, text in found}


def figure(html: str, section: str) -> dict:
    (fig,) = figures(sections(html)[section]).values()
    return fig


# ---------------------------------------------------------------- the page of the real study

def test_one_figure_per_section_and_the_table(page):
    secs = sections(page)
    assert list(secs) == list(SECTION_IDS)
    for sid, body in secs.items():
        divs = re.findall(r'<div id="([^"]+)" class="plotly-graph-div', body)
        if sid in TABLE_SECTIONS:
            assert divs == [] and body.count("<table") == (1 if sid == "trials" else body.count('class="trials answer'))
        else:
            assert len(divs) == 1 and list(figures(body)) == divs and "<table" not in body


def test_self_contained_plotly_embedded_once(page):
    assert '<script src="http' not in page and not re.search(r"<script[^>]*\bsrc=", page)
    assert page.count("* plotly.js v") == 1  # the bundle's banner
    assert page.count("Plotly.newPlot(") == 1  # one loader draws every figure


def test_table_has_one_row_per_trial_linked_to_its_mlflow_run(page, optuna_study, mlflow):
    _, exp_id, runs = mlflow
    rows = dict(re.findall(r'<tr data-study="tiny" data-trial="(\d+)">(.*?)</tr>', sections(page)["trials"], re.S))
    assert sorted(map(int, rows)) == [t.number for t in optuna_study.trials] and len(rows) == 3
    for t in optuna_study.trials:
        (ray_id,) = t.user_attrs["ray_trial_ids"]
        run_id = runs[ray_id].info.run_id
        assert f'href="{UI}/#/experiments/{exp_id}/runs/{run_id}?workflowType=machine_learning"' in rows[str(t.number)]
        assert f'data-v="{t.user_attrs["metrics"][R.VAL_PGD_ACC]!r}"' in rows[str(t.number)]
    assert "table.sortable" in page  # the inline sorter


def test_delta_energy_figure_holds_every_trials_mlflow_history(page, optuna_study, mlflow):
    """The ΔE panel draws the statistic the ΔE rule watches (issue 15), here once per epoch."""
    cl, _, runs = mlflow
    fig = figure(page, "delta-energy")
    watched = StudySpec().stopping.delta_energy.metric  # the tiny study keeps the rule's default statistic
    lines = {tr["meta"]["ray_trial_id"]: tr for tr in fig["data"] if "ray_trial_id" in tr.get("meta", {})}
    assert len(lines) == len(optuna_study.trials) == 3
    for t in optuna_study.trials:
        (ray_id,) = t.user_attrs["ray_trial_ids"]
        tr = lines[ray_id]
        assert tr["meta"]["trial"] == t.number and tr["meta"]["outcome"] == COMPLETED
        hist = sorted((m.step, m.value) for m in cl.get_metric_history(runs[ray_id].info.run_id, watched))
        assert list(zip(tr["x"], tr["y"])) == hist and tr["x"] == [1, 2, 3]
    assert watched in sections(page)["delta-energy"]  # the caption names the statistic


def test_val_pgd_figure_and_parallel_coordinates(page, optuna_study):
    pgd = figure(page, "val-pgd")
    last = {tr["meta"]["trial"]: tr["y"][-1] for tr in pgd["data"] if "trial" in tr.get("meta", {})}
    assert last == {t.number: pytest.approx(100 * t.user_attrs["metrics"][R.VAL_PGD_ACC]) for t in optuna_study.trials}
    assert pgd["layout"]["yaxis"]["title"]["text"] == "val PGD accuracy (%)"  # accuracies in % (issue 32)
    (par,) = figure(page, "parallel")["data"]
    dims = {d["label"]: d["values"] for d in par["dimensions"]}
    order = [m["trial"] for m in par["meta"]["trials"]]
    by_number = {t.number: t for t in optuna_study.trials}
    assert dims["der.weight"] == [by_number[n].params["der.weight"] for n in order]
    assert dims[f"{R.BEST_VAL_ROBUST} (%) (last epoch)"] == [pytest.approx(100 * by_number[n].value)
                                                            for n in order]  # the default objective, in %


def test_importances_of_the_study(page):
    fig = figure(page, "importance")
    bars = [tr for tr in fig["data"] if tr["type"] == "bar"]
    (bar,) = bars
    assert set(bar["y"]) == {"der.weight", "method.epsilon"}
    assert abs(sum(bar["x"]) - 1) < 1e-6
    assert "rough estimate" in sections(page)["importance"]


def test_pareto_front_of_the_completed_trials(page, optuna_study):
    fig = figure(page, "pareto")
    (front,) = [tr for tr in fig["data"] if "pareto" in tr.get("meta", {})]
    pts = {t.number: (t.user_attrs["metrics"][R.VAL_CLEAN_ACC], t.user_attrs["metrics"][R.VAL_PGD_ACC])
           for t in optuna_study.trials}
    nondominated = {n for n, (x, y) in pts.items()
                    if not any(x2 >= x and y2 >= y and (x2, y2) != (x, y) for x2, y2 in pts.values())}
    assert set(front["meta"]["pareto"]) == nondominated


@pytest.mark.parametrize("args, message", [
    (["nope"], "no study named 'nope'"),
    ([STUDY, "--compare", "other"], "no study named 'other'"),
    ([STUDY, "--mlflow-ui-url", "localhost:5000"], "is not an http(s) URL"),
])
def test_bad_input_is_exit_2(tiny_study, tmp_path, capsys, args, message):
    assert main(["report", *args, "--workspace", str(tiny_study), "--out", str(tmp_path / "r.html")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_bad_out_path_is_exit_2(tiny_study, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["report", STUDY, "--workspace", str(tiny_study), "--out", str(blocker / "r.html")]) == 2
    assert "is a file, not a folder" in " ".join(capsys.readouterr().err.split())
    assert main(["report", STUDY, "--workspace", str(tiny_study), "--out", str(tmp_path)]) == 2
    assert "is a folder" in " ".join(capsys.readouterr().err.split())


# ---------------------------------------------------------------- comparing studies

def test_compare_overlays_a_second_study(tiny_study):
    main_study = load_study(tiny_study, STUDY)
    other = dataclasses.replace(main_study, name="without-der",
                                trials=[dataclasses.replace(t, study="without-der") for t in main_study.trials])
    secs = {s.id: s for s in build_sections([main_study, other], UI)}
    fig = json.loads(re.search(r'class="figure-data"[^>]*>(.*?)</script>', secs["delta-energy"].body, re.S).group(1))
    studies = {tr["meta"]["study"] for tr in fig["data"]}
    assert studies == {STUDY, "without-der"}
    dashes = {tr["meta"]["study"]: tr["line"]["dash"] for tr in fig["data"] if "trial" in tr["meta"]}
    assert dashes[STUDY] != dashes["without-der"]
    assert len(re.findall(r"<tr data-study=", secs["trials"].body)) == 2 * len(main_study.trials)
    par = json.loads(re.search(r'class="figure-data"[^>]*>(.*?)</script>', secs["parallel"].body, re.S).group(1))
    assert par["data"][0]["dimensions"][0]["label"] == "study"


# ---------------------------------------------------------------- figure logic on hand-built inputs

def _spec(**search) -> StudySpec:
    return StudySpec.model_validate({"run": {"data": {"name": "mnist"}, "model": {"name": "small_cnn"}},
                                     "search": {"parameters": {"der.weight": {"distribution": "uniform", "low": 0,
                                                                              "high": 1}}, **search}})


def test_outcomes_from_states_and_stop_reasons():
    assert trial_outcome("COMPLETE", [None]) == COMPLETED
    assert trial_outcome("COMPLETE", [None, "probe_collapse"]) == PROBE  # stopped by the probe, result kept
    assert trial_outcome("PRUNED", ["probe_collapse", "asha"]) == "asha"  # named by the stop that pruned it
    assert trial_outcome("PRUNED", [None, "delta_energy"]) == DELTA_ENERGY
    assert trial_outcome("PRUNED", ["probe_collapse", "nan"]) == NAN
    assert trial_outcome("PRUNED", [None]) == PRUNED
    assert trial_outcome("FAIL", []) == "failed" and trial_outcome("RUNNING", []) == "running"
    assert run_outcome("probe_collapse", False) == PROBE and run_outcome(None, True) == "failed"


def test_stopped_runs_get_a_marker_at_their_stop_epoch():
    hist = {R.TRAIN_DELTA_MEAN: [(1, 0.01), (2, -0.02), (3, float("nan"))]}
    runs = [RunData("a", 0, DELTA_ENERGY, "delta_energy", 2, "r1", hist),
            RunData("b", 0, NAN, "nan", 3, "r2", hist), RunData("c", 0, COMPLETED, None, None, "r3", hist)]
    trials = [TrialData("s", i, "PRUNED", r.outcome, r.stop_reason, 3, {}, None, {}, [r]) for i, r in enumerate(runs)]
    fig = history_figure([StudyData("s", "finished", _spec(), None, trials)], R.TRAIN_DELTA_MEAN, "t", "y")
    stops = {tr["meta"]["stops"]: tr for tr in fig.to_plotly_json()["data"] if "stops" in tr["meta"]}
    assert set(stops) == {DELTA_ENERGY, NAN}  # none for the completed run
    assert list(stops[DELTA_ENERGY]["x"]) == [2] and list(stops[DELTA_ENERGY]["y"]) == [-0.02]
    assert list(stops[NAN]["x"]) == [3] and list(stops[NAN]["y"]) == [-0.02]  # last finite value
    line = next(tr for tr in fig.to_plotly_json()["data"] if tr["meta"].get("ray_trial_id") == "b")
    assert list(line["y"]) == [0.01, -0.02, None]  # NaN drawn as a gap, never as invalid JSON
    json.loads(fig.to_json())


def test_pareto_front_both_maximised():
    pts = [(0.2, 0.9), (0.5, 0.5), (0.4, 0.4), (0.9, 0.1), (0.5, 0.5), (0.1, 0.95)]
    assert pareto_front(pts) == [5, 0, 1, 4, 3]


def test_importances_with_too_few_trials_say_so():
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(params={"der.weight": 0.5}, distributions={"der.weight": FloatDistribution(0, 1)},
                                 value=0.3))
    fig, notes = importance_figure([StudyData("s", "finished", _spec(), study, [])])
    assert notes == ["s: parameter importances need at least 2 completed trials (it has 1)"]
    assert [tr for tr in fig.to_plotly_json()["data"]] == []
    assert "at least 2 completed trials" in fig.layout.annotations[0].text


def test_rule_view_draws_the_window_series_its_band_and_the_stop():
    """Window readings on the epoch axis, the band median ± k·scale of the previous w readings, ✕ at the stop."""
    from dashboards.figures.rule_view import caption

    spec = _spec()
    spec.run.eval.report_every = 8
    rule = spec.stopping.delta_energy
    key = rule.metric
    values = [-0.10, -0.12, -0.11, -0.13, -0.10, -2.5]
    hist = {R.window_key(key): [(8 * i, v) for i, v in enumerate(values, 1)],
            R.WINDOW_EPOCH: [(8 * i, i / 4) for i in range(1, 7)], key: [(1, -0.11)]}
    run = RunData("a", 0, DELTA_ENERGY, "delta_energy", 1.5, "r1", hist, stop_step=48)
    sd = StudyData("s", "finished", spec, None, [TrialData("s", 0, "PRUNED", DELTA_ENERGY, "delta_energy", 1.5, {},
                                                           None, {}, [run])])
    data = rule_view_figure([sd]).to_plotly_json()["data"]
    line = next(tr for tr in data if "trial" in tr["meta"])
    assert list(line["x"]) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5] and list(line["y"]) == values
    hi = next(tr for tr in data if tr["meta"].get("band") == "high")
    med, scale = rule.band(values[-1 - rule.window:-1])
    assert hi["y"][-1] == pytest.approx(med + rule.threshold * scale)
    assert list(hi["x"]) == list(line["x"])[rule.window:]  # defined once w readings precede it
    assert float(hi["fillcolor"].rsplit(",", 1)[1].rstrip(")")) <= 0.15  # a light band, never opaque (issue 32)
    (stop,) = [tr for tr in data if "stops" in tr["meta"]]
    assert list(stop["x"]) == [1.5] and list(stop["y"]) == [-2.5] and "step 48" in stop["text"][0]
    text = caption([sd])
    assert f"statistic {key}, read every 8 steps" in text and f"k = {rule.threshold:g}" in text
