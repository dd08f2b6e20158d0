"""Issue 32, without Ray: what each trial reads on test (the study's evaluation policy), specs stored before it,
exported configs with every default written out (and training exactly as the trial did), a mistyped search
parameter, and the progress lines of long phases (``study.console.phases``, the study's heartbeat)."""
from __future__ import annotations

import io
import time

import pytest
import yaml

from study.kinds import KINDS
from study.spec.spec import StudySpec, spec_from_text
from trainables.schema.config import RunConfig


def _spec(**over) -> StudySpec:
    return StudySpec.model_validate({"run": {"data": {"name": "mnist"}, "model": {"name": "small_cnn"}},
                                     "search": {"parameters": {"der.weight": {"distribution": "uniform", "low": 0,
                                                                              "high": 1}}}, **over})


# ---------------------------------------------------------------- each trial's test reading

def test_a_trial_reads_test_cheaply_by_default():
    cfg = KINDS["train"].trial_config(_spec(), {"der.weight": 0.5}, 0)
    assert cfg.eval.final and cfg.eval.test_pgd == [(20, 1)] and not cfg.eval.autoattack
    assert cfg.data.test_subset == 500  # MNIST's 10,000 test images: the first 500
    assert RunConfig().eval.test_pgd == [(20, 1), (50, 10)] and RunConfig().eval.autoattack  # `study train`: as before


@pytest.mark.parametrize("evaluation, final, pgd, autoattack, subset", [
    ({"trials": "off"}, False, [(20, 1), (50, 10)], True, None),
    ({"trials": "as_configured"}, True, [(20, 1), (50, 10)], True, None),
    ({"trials": "cheap", "trial_images": 200}, True, [(20, 1)], False, 200),
])
def test_the_evaluation_policy_sets_the_trials_test_reading(evaluation, final, pgd, autoattack, subset):
    cfg = KINDS["train"].trial_config(_spec(evaluation=evaluation), {"der.weight": 0.5}, 0)
    assert (cfg.eval.final, cfg.eval.test_pgd, cfg.eval.autoattack, cfg.data.test_subset) == (final, pgd, autoattack,
                                                                                                subset)


def test_a_smaller_test_subset_is_kept_and_an_imagefolder_is_left_as_written():
    spec = _spec(run={"data": {"name": "mnist", "test_subset": 128}, "model": {"name": "small_cnn"}})
    assert KINDS["train"].trial_config(spec, {"der.weight": 0.5}, 0).data.test_subset == 128
    spec = _spec(run={"data": {"name": "imagefolder", "root": "/nowhere"}, "model": {"name": "small_cnn"}})
    assert KINDS["train"].trial_config(spec, {"der.weight": 0.5}, 0).data.test_subset is None


def test_a_spec_stored_before_issue_32_reads_back_as_it_ran():
    """The catalog's copy of an older study has no evaluation block: its trials read test as run.eval said and it
    had no answer reading; a new study's copy keeps its own block."""
    old = _spec().model_dump(mode="json")
    del old["evaluation"]
    back = spec_from_text(yaml.safe_dump(old), "the catalog's copy")
    assert back.evaluation.trials == "as_configured" and back.evaluation.answer.top == 0
    new = spec_from_text(yaml.safe_dump(_spec().model_dump(mode="json")), "the catalog's copy")
    assert new.evaluation.trials == "cheap" and new.evaluation.answer.top == 1


def test_answer_settings_are_checked():
    from study.errors import UserError
    from study.spec.yamlio import validate

    with pytest.raises(UserError, match=r"evaluation.answer.images: must be at least 1"):
        validate({"evaluation": {"answer": {"images": 0}}}, StudySpec, "spec file s.yaml")
    with pytest.raises(UserError, match=r"each PGD reading is \[steps, restarts\]"):
        validate({"evaluation": {"answer": {"pgd": [[50, 0]]}}}, StudySpec, "spec file s.yaml")


def test_the_studys_end_reads_pgd_and_study_evaluate_reads_autoattack_too():
    """AutoAttack standard on 1,000 images takes minutes on 2 cores (README, 'What evaluation costs'): the study's
    end reads clean and PGD unless evaluation.answer.at_end is full; `study evaluate` reads everything."""
    from study.results.evaluate import Settings

    spec = _spec()
    assert Settings.from_spec(spec).as_dict() == {"images": 1000, "pgd": [[50, 10]], "autoattack": "standard"}
    assert Settings.from_spec(spec, at_end=True).autoattack == "off"
    assert Settings.from_spec(spec, at_end=True).describe() == "clean, PGD-50x10 on 1,000 test images"
    full = _spec(evaluation={"answer": {"at_end": "full"}})
    assert Settings.from_spec(full, 200, at_end=True).as_dict() == {"images": 200, "pgd": [[50, 10]],
                                                                     "autoattack": "standard"}


# ---------------------------------------------------------------- a mistyped search parameter

def test_a_typo_in_a_search_parameter_is_named_with_its_fix_not_a_value():
    from study.errors import UserError
    from study.spec.yamlio import validate

    raw = {"run": {"data": {"name": "mnist"}},
           "search": {"parameters": {"der.weigth": {"distribution": "loguniform", "low": 0.01, "high": 10}}}}
    with pytest.raises(UserError) as e:
        validate(raw, StudySpec, "spec file s.yaml")
    text = str(e.value)
    assert "search parameter 'der.weigth' is not a field of the run config (did you mean 'der.weight'?)" in text
    assert "Fix: rename it under search.parameters to a dotted path of the run config, e.g. der.weight" in text
    assert "value" not in text  # the lower bound 0.01 is not "the value" of a field that does not exist
    raw["search"]["parameters"] = {"der.weight": {"distribution": "uniform", "low": -1, "high": 1}}
    with pytest.raises(UserError, match=r"with value -1 does not fit"):  # a real value error still names its value
        validate(raw, StudySpec, "spec file s.yaml")


# ---------------------------------------------------------------- exported configs

def test_an_exported_config_writes_every_default_the_run_used():
    from study.kinds.exported import export_name, fully_resolved

    cfg = fully_resolved(RunConfig.model_validate({"data": {"name": "fashion_mnist"}, "model": {"name": "small_cnn"},
                                                   "method": {"name": "rs_fgsm", "epsilon": 25.5}}),
                         export_name("own", 3))
    assert cfg.name == "own-trial3"
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == (0.1, 0.9, 5e-4)
    assert (cfg.method.attack, cfg.method.alpha, cfg.method.attack_bn_mode) == ("rs_fgsm", 31.875, "train")
    assert (cfg.model.width, cfg.model.batchnorm, cfg.data.augment) == (16, True, False)
    assert (cfg.eval.epsilon, cfg.eval.norm) == (25.5, "linf")
    pgd = fully_resolved(RunConfig())  # CIFAR-10, PreActResNet-18, PGD-10: α = ε/4, augmented 32x32 colour
    assert (pgd.method.alpha, pgd.data.augment, pgd.model.width) == (2.0, True, None)  # it takes no width


def test_an_exported_config_trains_exactly_as_the_trial_did(data_root, single_thread):
    """Writing the defaults out changes nothing: one epoch of the resolved config equals the original's."""
    from study.kinds.exported import fully_resolved
    from testlib import tiny_run
    from trainables.training.fit import fit

    cfg = RunConfig.model_validate(tiny_run(data_root, epochs=1, optim={}, method={"name": "rs_fgsm", "epsilon": 51},
                                            deterministic=True))
    assert cfg.optim.lr is None and cfg.method.alpha is None
    a = fit(cfg).records[-1].flat()
    b = fit(fully_resolved(cfg, "tiny-trial0")).records[-1].flat()
    timing = ("time/", )
    assert {k: v for k, v in a.items() if not k.startswith(timing)} == {k: v for k, v in b.items()
                                                                         if not k.startswith(timing)}


# ---------------------------------------------------------------- progress lines

def test_a_long_phase_says_what_it_does_every_few_seconds():
    from study.console.phases import Phase

    lines: list[str] = []
    with Phase(lines.append, "trial 3: PGD-50x10 on 1,000 images", every=0.2) as p:
        p.status("restart 2/10, 180 images still robust")
        time.sleep(0.9)
        p.finish("15.3%")
    beats = [x for x in lines if "restart 2/10, 180 images still robust" in x]
    assert lines[0] == "trial 3: PGD-50x10 on 1,000 images ..." and len(beats) >= 2
    assert all(x.rstrip().endswith(" s") for x in beats)  # with the seconds elapsed
    assert lines[-1].startswith("trial 3: PGD-50x10 on 1,000 images: 15.3% (")


class _Trial:
    def __init__(self, number, status, last_result=None, final=True):
        self.config = {"__trial_number__": number, "run": {"eval": {"final": final}}}
        self.status, self.last_result, self.trial_id = status, last_result or {}, f"t{number}"


def test_the_study_console_is_never_quiet_for_long(monkeypatch):
    """While trials run and report nothing (workers starting, a trial's last epoch and its test reading), a line
    says what each is in, at most HEARTBEAT_S after the last one."""
    from rich.console import Console

    import study.run.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    cb = progress.ProgressCallback(["best/val_robust_acc"], epochs=2)
    buf = io.StringIO()
    cb._console = Console(file=buf, width=200)
    trials = [_Trial(3, "RUNNING", {"epoch": 1}), _Trial(4, "RUNNING"), _Trial(5, "PENDING")]
    cb.on_step_end(0, trials)  # starts the clock
    clock[0] += progress.HEARTBEAT_S - 1
    cb.on_step_end(1, trials)
    assert buf.getvalue() == ""
    clock[0] += 1
    cb.on_step_end(2, trials)
    line = buf.getvalue()
    assert "trial-3 in epoch 2/2, then its test reading" in line and "trial-4 starting" in line
    assert "1 waiting" in line and f"({progress.HEARTBEAT_S:.0f} s since the last result)" in line
    clock[0] += progress.HEARTBEAT_S
    cb.on_step_end(3, trials)
    assert f"({2 * progress.HEARTBEAT_S:.0f} s since the last result)" in buf.getvalue()  # counts from the news


def test_the_study_start_is_not_quiet_before_the_trials_heartbeat_takes_over(monkeypatch):
    """From the study's first line until Ray Tune calls the callback's setup (a local Ray start, the stores, the
    search: 12 s on a busy 2-core machine), a line says the study is starting; it stops once the callback's own
    heartbeat runs, or when the study ends before that."""
    from rich.console import Console

    import study.run.progress as progress

    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.3)
    buf = io.StringIO()
    progress.mark_line(Console(file=buf, width=200))
    time.sleep(1.6)
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 2 and all(x.startswith("… starting the study: Ray, its stores and the search (") for x in lines)
    cb = progress.ProgressCallback(["best/val_robust_acc"], epochs=2)
    cb._console = Console(file=io.StringIO(), width=200)
    cb.setup()  # the callback's heartbeat takes over: the opening's stops
    try:
        time.sleep(0.6)  # (a line being printed as setup ran may still land)
        settled = buf.getvalue()
        time.sleep(1.0)
        assert buf.getvalue() == settled
    finally:
        cb.on_experiment_end([])
    progress.mark_line(Console(file=buf, width=200))
    progress.end_opening()  # a study refused before its trials ran: no heartbeat among its error paragraph
    time.sleep(1.0)
    assert buf.getvalue() == settled
