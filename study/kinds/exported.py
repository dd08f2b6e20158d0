"""An exported trial config as ``study export`` writes it: every default the run used written out, named after
the study and the trial.

``RunConfig.resolved()`` fills what depends on other fields (the evaluation radius and norm, the optimizer's
defaults, the training attack's BatchNorm mode); this adds the rest a run decides when a field is left ``None``:
the training attack and its step (the method's), the model's options (its builder's defaults) and augmentation
(on for 32×32 colour images). What stays ``null`` is not a default but "not used", "all" or a choice made per
machine or per attack; ``NULL_MEANING`` says which, and the export header repeats it.

The name, ``<study>-trial<N>``, is the folder ``study train`` writes the retrain into (``runs/<name>``), so two
exported trials never share one.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainables.schema.config import RunConfig

NULL_MEANING = ("null where it remains: all images (data.train_subset, data.test_subset), images as they are "
                "(data.image_size), not used (reference, generate, an option the model or optimizer does not take), "
                "per evaluation attack (eval.pgd_alpha: trainables/evaluation/defaults.py), or per machine "
                "(channels_last: on for CUDA; threads: torch's)")


def export_name(study: str, number: int) -> str:
    """The run name of an exported trial, e.g. ``own-trial3``: its retrain folder is ``runs/own-trial3``."""
    return f"{study}-trial{number}"


def fully_resolved(cfg: "RunConfig", name: str | None = None) -> "RunConfig":
    """``cfg`` with every default the run used written out (``name``: the run's new name)."""
    out = cfg.resolved()
    _attack(out)
    _model_options(out)
    _augment(out)
    if name is not None:
        out.name = name
    return out


def _attack(cfg: "RunConfig") -> None:
    """The training attack the method builds and its step in 1/255 units (``trainables.attacks.build_attack``)."""
    from trainables.attacks import ATTACKS
    from trainables.methods import METHODS

    m = cfg.method
    if m.attack is None:
        m.attack = METHODS.get(m.name).attack_name
    if m.alpha is None:
        step = ATTACKS.get(m.attack).default_alpha(m.epsilon / 255.0) * 255.0
        m.alpha = float(f"{step:.12g}")  # 2.0000000000000004 -> 2.0: the step is what the user would write


def _model_options(cfg: "RunConfig") -> None:
    """``model.width`` and ``model.batchnorm`` at their builder's defaults, for a model that takes them."""
    from trainables.models import MODELS
    from trainables.schema.config import model_options

    params = inspect.signature(MODELS.get(cfg.model.name)).parameters
    for option in sorted(model_options(cfg.model.name) & {"width", "batchnorm"}):
        default = params[option].default
        if getattr(cfg.model, option) is None and default is not inspect.Parameter.empty:
            setattr(cfg.model, option, default)


def _augment(cfg: "RunConfig") -> None:
    """``data.augment``: on for 32×32 colour images (``trainables.data.bundle.build_data``). Read from the
    dataset's facts; an imagefolder that cannot be read here keeps ``null``."""
    if cfg.data.augment is not None:
        return
    from trainables.data import dataset_facts
    from trainables.errors import InputError

    try:
        facts = dataset_facts(cfg.data)
    except (InputError, OSError):
        return
    height, width = facts.image_shape
    cfg.data.augment = height == width == 32 and facts.in_channels == 3
