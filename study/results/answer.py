"""The study's answer as recorded: the strong test reading of its best configurations (``study.results.evaluate``).

Optuna holds it as the study's user attribute ``answer`` (a finished trial's own attributes can no longer be
written): the settings it was read with, the metric the configurations were ranked by, and per trial number
its rank, selected epochs and ``test/answer/...`` metrics, per seed and as their mean. Each seed's MLflow run
gets the same metrics (``log_to_mlflow``), and the study's parent run the whole record as ``answer.json``.
Readings taken with other settings are not comparable: a new reading with different settings replaces them.

>>> entry = {"metrics": {"test/answer/clean_acc": 0.712, "test/answer/pgd50x10_acc": 0.153,
...                      "test/answer/autoattack_acc": 0.141}, "epochs": [2], "seeds": [{}]}
>>> phrase(entry, {"settings": {"images": 1000}})
'clean 71.2%, PGD-50x10 15.3%, AutoAttack 14.1% on 1,000 test images (epoch 2)'
"""
from __future__ import annotations

import time
from typing import Any, Optional

from trainables.schema import records as R

ATTR = "answer"
WHICH = "answer"  # test/answer/<metric>
NAMES = {"clean_acc": "clean", "autoattack_acc": "AutoAttack", "apgd_ce_t_acc": "APGD-CE+T"}


def key(metric: str) -> str:
    """e.g. key("pgd50x10_acc") == "test/answer/pgd50x10_acc"."""
    return R.test_key(WHICH, metric)


def label(metric_key: str) -> str:
    """How a test/answer/... metric is named in words: "PGD-50x10", "AutoAttack", "clean"."""
    short = metric_key.rsplit("/", 1)[-1]
    if short.startswith("pgd") and short.endswith("_acc"):
        return "PGD-" + short[3:-4]
    return NAMES.get(short, short)


def read_answer(study) -> dict:
    """The recorded answer of an Optuna study ({} when none was read)."""
    answer = study.user_attrs.get(ATTR)
    return answer if isinstance(answer, dict) else {}


def merged(previous: dict, settings: dict, ranked_by: str, entries: dict[int, dict]) -> dict:
    """``previous`` with ``entries`` (trial number -> entry) added; dropped first when read with other settings."""
    same = previous.get("settings") == settings
    trials = dict(previous.get("trials", {})) if same else {}
    trials.update({str(n): e for n, e in entries.items()})
    return {"settings": settings, "ranked_by": ranked_by, "updated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "trials": trials}


def write_answer(study, answer: dict) -> None:
    study.set_user_attr(ATTR, answer)


def phrase(entry: dict, answer: dict) -> str:
    """One trial's answer in words: its readings, the images and the selected epoch(s)."""
    metrics = entry.get("metrics", {})
    order = sorted(metrics, key=lambda k: (not k.endswith("clean_acc"), k.endswith(("autoattack_acc",
                                                                                     "apgd_ce_t_acc")), k))
    readings = ", ".join(f"{label(k)} {100 * metrics[k]:.1f}%" for k in order)
    n = answer.get("settings", {}).get("images")
    epochs = entry.get("epochs") or []
    seeds = len(entry.get("seeds", [])) or 1
    where = f" on {n:,} test images" if n else ""
    at = f"epoch {'/'.join(f'{e:g}' for e in epochs)}" if epochs else ""
    mean = f"mean of {seeds} seeds" if seeds > 1 else ""
    extra = "; ".join(x for x in (at, mean, "MASKED" if entry.get("masked") else "") if x)
    return f"{readings}{where}" + (f" ({extra})" if extra else "")


def log_to_mlflow(uri: Optional[str], parent_run_id: Optional[str], run_ids: dict[int, list[Optional[str]]],
                  answer: dict) -> Optional[str]:
    """Each seed's reading into its trial's MLflow run (metrics ``test/answer/...``, tags ``answer.*``) and the
    record into the parent run (``answer.json``); returns why it could not, or None."""
    if not uri or not parent_run_id:
        return "the study runs without MLflow tracking: the answer is in Optuna and the report only"
    from mlflow.entities import Metric, RunTag
    from mlflow.exceptions import MlflowException

    from study.tracking.common import client

    cl = client(uri)
    ts = int(time.time() * 1000)
    images = answer["settings"]["images"]
    try:
        for number, ids in run_ids.items():
            entry = answer["trials"].get(str(number))
            if entry is None:
                continue
            for run_id, seed in zip(ids, entry["seeds"]):
                if not run_id:
                    continue
                metrics = [Metric(k, float(v), ts, 0) for k, v in {**seed["metrics"], key("epoch"): seed["epoch"]}.items()]
                tags = [RunTag("answer.rank", str(entry["rank"])), RunTag("answer.images", str(images)),
                        RunTag("answer.ranked_by", answer["ranked_by"])]
                cl.log_batch(run_id, metrics=metrics, tags=tags)
        cl.log_dict(parent_run_id, answer, "answer.json")
    except (MlflowException, OSError) as e:
        return f"MLflow could not record it ({str(e).splitlines()[0][:200]}); it is in Optuna and the report"
    return None


def entry_for(rank: int, objective: Any, seeds: list[dict]) -> dict:
    """A trial's entry from its seeds' readings: their mean per metric, their selected epochs and MASKED flags."""
    keys = list(dict.fromkeys(k for s in seeds for k in s["metrics"]))
    mean = {k: sum(s["metrics"][k] for s in seeds if k in s["metrics"]) / sum(k in s["metrics"] for s in seeds)
            for k in keys}
    return {"rank": rank, "objective": objective, "metrics": mean, "epochs": [s["epoch"] for s in seeds],
            "masked": any(s.get("masked") for s in seeds), "seeds": seeds}
