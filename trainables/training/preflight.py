"""What a run config asks of its dataset, checked against the dataset's facts before anything trains.

Split and subset sizes, the number of classes, and whether the model accepts the dataset's images
(channels and size) and answers one logit per class. The model check runs the network once on the
``meta`` device: shapes only, no memory, no arithmetic (well under a second even for WRN-34-10).
``study run`` calls it before a study is recorded, so a mistake that every trial would hit is one
error (exit code 2) instead of a study of failed trials.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Optional

from trainables.data.split import check_sizes
from trainables.errors import InputError

if TYPE_CHECKING:
    from trainables.schema.config import ModelConfig, RunConfig
    from trainables.data import DatasetFacts


def check_run(cfg: "RunConfig", facts: Optional["DatasetFacts"] = None) -> "DatasetFacts":
    """Raise ``InputError`` (plain words, with the fix) if ``cfg`` cannot run on its dataset; return the facts."""
    from trainables.data import dataset_facts

    from trainables.schema.ranges import data_findings, refuse_text

    facts = facts or dataset_facts(cfg.data)
    d = cfg.data
    check_sizes(facts.num_train, facts.num_test, d.val_size, d.train_subset, d.test_subset, facts.name)
    if facts.num_classes < 2:
        raise InputError(f"{facts.name} has {facts.num_classes} class(es); a classifier needs at least 2 "
                         f"(an imagefolder needs at least two class folders in train/ and test/)")
    check_model(cfg.model, facts)
    refused = refuse_text(data_findings(cfg, facts))  # values outside their physical range (trainables.schema.ranges)
    if refused:
        raise InputError(refused)
    return facts


def _shape_error(model: "ModelConfig", facts: "DatasetFacts", shape: tuple[int, int]) -> Optional[str]:
    """Why the model cannot take (C, *shape) images and give one logit per class (None: it can)."""
    import torch

    from trainables.models import build_model

    c, (h, w) = facts.in_channels, shape
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            net = build_model(model.name, facts.num_classes, c, [0.5] * c, [0.25] * c, model.width, h)
            out = net(torch.zeros(2, c, h, w))
    except (RuntimeError, ValueError) as e:
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    if tuple(out.shape) != (2, facts.num_classes):
        return f"it answers shape {tuple(out.shape)[1:]} instead of {facts.num_classes} logits"
    return None


def check_model(model: "ModelConfig", facts: "DatasetFacts") -> None:
    """The model must accept the dataset's images; the message names a square size that works."""
    error = _shape_error(model, facts, facts.image_shape)
    if error is None:
        return
    h, w = facts.image_shape
    sizes = [max(h, w), *range(max(h, w) + 1, 17), 24, 32, 48, 64, 96, 128, 224]
    fits = next((s for s in sizes if s >= max(h, w) and _shape_error(model, facts, (s, s)) is None), None)
    fix = (f"set data.image_size to {fits} (a square size the model accepts; imagefolder resizes every image to it)"
           if fits and facts.name == "imagefolder" else "choose a model that accepts them (model.name)")
    raise InputError(f"model {model.name!r} does not accept {facts.name}'s {facts.in_channels}x{h}x{w} images "
                     f"({error}); {fix}")
