"""The report as a reader sees it (issue 32): the page rendered by a real headless Chromium, screenshotted, and
the first chart's traces found on it, not hidden under the ΔE rule's bands; every band see-through; accuracies
in % on every axis and hover. The study is hand-built (8 trials, 8 epochs, ΔE readings about a hundredth apart
under a band ±0.4 wide: the quickstart's proportions, where opaque bands once covered the traces)."""
from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import optuna
import pytest

from browser import chromium, screenshot
from dashboards.data import COMPLETED, DELTA_ENERGY, PROBE, RunData, StudyData, TrialData
from dashboards.html import render_page
from dashboards.report import DELTA_ENERGY as FIRST_CHART, build_sections
from study.spec.spec import StudySpec
from trainables.schema import records as R

EPOCHS = 8
MAX_BAND_FILL = 0.15


def _study() -> StudyData:
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    spec = StudySpec.model_validate({"run": {"data": {"name": "mnist"}, "model": {"name": "small_cnn"},
                                             "epochs": EPOCHS},
                                     "search": {"parameters": {"der.weight": {"distribution": "loguniform",
                                                                              "low": 0.01, "high": 10}}}})
    optuna_study = optuna.create_study(direction="maximize")
    trials = []
    for n in range(8):
        w = 10 ** (-2 + n * 3 / 7)
        delta = [-0.008 - 0.006 * e * (1 + 0.1 * n) + 0.002 * math.sin(n + e) for e in range(EPOCHS)]
        stop = 6 if n in (2, 5) else None
        if stop:
            delta = delta[:stop - 1] + [-0.6]
        outcome = (DELTA_ENERGY if n == 2 else PROBE) if stop else COMPLETED
        pgd = [0.1 + 0.02 * e + 0.01 * n for e in range(len(delta))]
        hist = {spec.stopping.delta_energy.metric: [(e + 1, v) for e, v in enumerate(delta)],
                R.PROBE_DELTA_MEAN: [(e + 1, v / 2) for e, v in enumerate(delta)],
                R.VAL_PGD_ACC: [(e + 1, v) for e, v in enumerate(pgd)]}
        run = RunData(f"r{n}", 0, outcome, outcome if stop else None, stop, f"run{n}", hist)
        metrics = {R.BEST_VAL_ROBUST: max(pgd), R.VAL_PGD_ACC: pgd[-1], R.VAL_CLEAN_ACC: 0.6 + 0.02 * n,
                   R.BEST_EPOCH: float(pgd.index(max(pgd)) + 1), R.BEST_MASKED: float(n == 4)}
        optuna_study.add_trial(create_trial(params={"der.weight": w}, distributions={
            "der.weight": FloatDistribution(0.01, 10, log=True)}, value=max(pgd)))
        trials.append(TrialData("own", n, "COMPLETE", outcome, outcome if stop else None, len(delta),
                                {"der.weight": w}, [max(pgd)], metrics, [run], {"der.weight": w}))
    return StudyData("own", "finished", spec, optuna_study, trials)


def _page(tmp_path: Path) -> Path:
    sections = build_sections([_study()])
    path = tmp_path / "own.html"
    path.write_text(render_page("Study report: own", ["own"], sections), encoding="utf-8")
    return path


def _figure(page: str, section: str) -> dict:
    body = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, re.S))[section]
    return json.loads(re.search(r'class="figure-data"[^>]*>(.*?)</script>', body, re.S).group(1))


def _alpha(colour: str) -> float:
    m = re.fullmatch(r"rgba\(\s*[\d.]+\s*,\s*[\d.]+\s*,\s*[\d.]+\s*,\s*([\d.]+)\s*\)", colour or "")
    return float(m.group(1)) if m else 1.0


def test_every_band_of_the_first_chart_is_see_through(tmp_path):
    fig = _figure(_page(tmp_path).read_text(encoding="utf-8"), FIRST_CHART)
    filled = [tr for tr in fig["data"] if tr.get("fill", "none") != "none"]
    assert filled, "the first chart draws the rule's bands"
    for tr in filled:
        assert _alpha(tr.get("fillcolor")) * tr.get("opacity", 1.0) <= MAX_BAND_FILL, tr.get("fillcolor")
    bands = [i for i, tr in enumerate(fig["data"]) if "band" in tr.get("meta", {})]
    lines = [i for i, tr in enumerate(fig["data"]) if "trial" in tr.get("meta", {})]
    assert max(bands) < min(lines)  # every band under every trace
    ys = [y for i in lines for y in fig["data"][i]["y"] if y is not None]
    lo, hi = fig["layout"]["yaxis"]["range"]
    assert lo <= min(ys) and max(ys) <= hi and hi - lo < 2 * (max(ys) - min(ys))  # fitted to the traces


def test_accuracies_are_in_percent_on_every_axis_and_hover(tmp_path):
    page = _page(tmp_path).read_text(encoding="utf-8")
    pgd = _figure(page, "val-pgd")
    assert pgd["layout"]["yaxis"]["title"]["text"].endswith("(%)")
    line = next(tr for tr in pgd["data"] if tr.get("meta", {}).get("trial") == 0)
    assert line["y"][0] == pytest.approx(10.0) and "%{y:.1f}%" in line["hovertemplate"]
    pareto = _figure(page, "pareto")
    assert pareto["layout"]["xaxis"]["title"]["text"].endswith("(%)")
    assert all(10 <= y <= 100 for tr in pareto["data"] for y in tr["y"])
    assert "%{x:.1f}%" in pareto["data"][0]["hovertemplate"]
    (par,) = _figure(page, "parallel")["data"]
    objective = next(d for d in par["dimensions"] if d["label"].startswith(R.BEST_VAL_ROBUST))
    assert "(%)" in objective["label"] and all(10 <= v <= 100 for v in objective["values"])
    trials = dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, re.S))["trials"]
    assert re.search(r'data-v="0\.24[0-9]*" class="num">24\.0%<', trials)  # the text in %, sorted by the raw value
    assert "best/val_robust_acc is the reading of each trial" in trials and "MASKED: the masking check" in trials


# The first chart in a real browser: its plot area with everything drawn, without the traces, with the traces
# alone and with nothing (axes frozen, legend off, so only the traces and bands change between the four).
SHOTS_JS = """
const done = arguments[arguments.length - 1];
const gd = document.getElementById(arguments[0]);
const n = gd.data.length;
const lines = [], bands = [];
gd.data.forEach((t, i) => { const m = t.meta || {}; if ("band" in m) bands.push(i); else lines.push(i); });
const all = [...Array(n).keys()];
Plotly.relayout(gd, {"xaxis.range": gd._fullLayout.xaxis.range.slice(), "yaxis.range": gd._fullLayout.yaxis.range
    .slice(), showlegend: false, hovermode: false}).then(() => done({size: gd._fullLayout._size,
    lines: lines, bands: bands, all: all}));
"""
SHOW_JS = """
const done = arguments[arguments.length - 1];
const gd = document.getElementById(arguments[0]);
const set = (visible, traces) => traces.length ? Plotly.restyle(gd, {visible: visible}, traces) : Promise.resolve();
set(true, arguments[1]).then(() => set(false, arguments[2])).then(() => setTimeout(() => done(true), 300));
"""  # (an empty list of traces would mean every trace to Plotly.restyle)


def _plot_area(browser, div: str, size: dict, tmp_path: Path, name: str):
    from PIL import Image

    element = browser.find_element("id", div)
    png = element.screenshot_as_png
    (tmp_path / f"{name}.png").write_bytes(png)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    box = (int(size["l"]), int(size["t"]), int(size["l"] + size["w"]), int(size["t"] + size["h"]))
    return img.crop(box)


def _changed(a, b, tolerance: int = 60) -> int:
    """Pixels whose colour differs by more than ``tolerance`` (summed over R, G, B) between two images."""
    from PIL import ImageChops

    diff = ImageChops.difference(a, b).convert("RGB")
    return sum(1 for r, g, bl in diff.getdata() if r + g + bl > tolerance)


def _traces_seen(browser, page: Path, tmp_path: Path) -> tuple[int, int]:
    """(pixels the traces change on the chart as drawn, pixels they change drawn alone)."""
    div = "fig-" + FIRST_CHART
    browser.get(page.as_uri())
    browser.set_script_timeout(60)
    info = browser.execute_async_script(SHOTS_JS, div)
    everything, lines, bands = info["all"], info["lines"], info["bands"]

    def shot(show, hide, name):
        browser.execute_async_script(SHOW_JS, div, show, hide)
        return _plot_area(browser, div, info["size"], tmp_path, name)

    drawn = shot(everything, [], "all")
    without_traces = shot(bands, lines, "bands-only")
    alone = shot(lines, bands, "traces-only")
    nothing = shot([], everything, "nothing")
    return _changed(drawn, without_traces), _changed(alone, nothing)


def test_the_first_charts_traces_are_visible_in_a_real_browser(tmp_path):
    """Hiding the traces must change (nearly) every pixel they cover when drawn alone: a band drawn over them, or
    so opaque that they vanish in it, fails here."""
    page = _page(tmp_path)
    with chromium(1400, 1000) as browser:
        browser.get(page.as_uri())
        screenshot(browser, tmp_path, "report-first-chart")  # kept under $STUDY_SCREENSHOTS for a human
        seen, alone = _traces_seen(browser, page, tmp_path)
    assert alone > 2000, f"the traces cover only {alone} pixels: nothing was drawn"
    assert seen >= 0.9 * alone, f"only {seen} of the {alone} pixels the traces cover are visible with the bands"
