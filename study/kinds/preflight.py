"""The data side of the pre-flight of ``study run``: every run config a study's search can produce (the base,
and the base with each searched value), checked against its dataset's facts before anything is recorded
(exit code 2): split and subset sizes, classes, and whether the model takes the images
(``trainables.training.preflight``); locally the data must be present too. A generation study's
classifier is checked against the data it will be scored on. The resources side is ``study.run.preflight``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from study.errors import UserError
from study.errors.wording import show
from trainables.errors import DatasetNotFoundError, InputError

if TYPE_CHECKING:
    from study.spec.spec import StudySpec


def variants(spec: StudySpec) -> Iterator[tuple[str, Any]]:
    """(label, config): the kind's base config, then the base with each searched value (bounds of ranges)."""
    from study.kinds import KINDS
    from trainables.schema.overrides import with_overrides

    kind = KINDS[spec.kind]
    base = kind.base(spec)
    yield f"{kind.label}: ", base
    for path, dist in spec.search.parameters.items():
        for value in dist.probes():
            yield f"{kind.label} with search parameter {path} = {show(value)}: ", with_overrides(base, {path: value})


def check_runs(spec: StudySpec, local: bool) -> None:
    """Every run config of the search must fit its data (on a cluster: as far as it can be told from here)."""
    from trainables.data import check_available, dataset_facts
    from trainables.training.preflight import check_run

    facts: dict[str, Any] = {}
    seen: set[tuple[str, str]] = set()
    for label, cfg in variants(spec):
        data_key = cfg.data.model_dump_json()
        key = (data_key, cfg.model.model_dump_json())
        if key in seen:
            continue
        seen.add(key)
        try:
            if data_key not in facts:
                if local:
                    check_available(cfg.data)
                facts[data_key] = dataset_facts(cfg.data)
            check_run(cfg, facts[data_key])
        except DatasetNotFoundError as e:
            if local:
                raise UserError(f"{label}{e}") from None
            facts[data_key] = None  # on a cluster the data may live on the workers only
        except InputError as e:
            raise UserError(f"{label}{e}") from None


def check_classifier(run_cfg: Any, state: dict, data_root: Any, local: bool) -> None:
    """A generation study's classifier and its data: the data must be there (locally) and hold the classes
    and channels the classifier was trained on."""
    from trainables.data import check_available, dataset_facts
    from trainables.models.saved import infer_facts  # the classes and channels the weights were trained for

    if not local:
        return
    data = run_cfg.data.model_copy(update={"root": str(data_root)}) if data_root else run_cfg.data
    try:
        check_available(data)
        facts = dataset_facts(data)
    except InputError as e:
        raise UserError(f"the classifier's dataset: {e}\n(generation needs it for the init, the mean class energies "
                        f"and the FID reference: set generation.data_root to where it is now)") from None
    weights = infer_facts(state)
    for what, want, have in (("classes", weights["num_classes"], facts.num_classes),
                             ("image channels", weights["in_channels"], facts.in_channels)):
        if want != have:
            raise UserError(f"the classifier was trained with {want} {what} but {facts.name} at "
                            f"{data.root or 'its default root'} has {have}; set generation.data_root to the data it "
                            f"was trained on")


def range_warnings(spec: StudySpec) -> list[str]:
    """Values outside their physical range that are legal but most likely not meant (``trainables.schema.ranges``),
    one line each, for every run config the search can produce (``variants``); the refused ones never get
    here (validation and ``check_runs`` refuse them). Data rules only where the dataset's facts are known."""
    from trainables.schema.config import RunConfig
    from trainables.data import dataset_facts
    from trainables.schema.ranges import config_findings, data_findings

    lines: dict[str, None] = {}
    seen: set[str] = set()
    for label, cfg in variants(spec):
        if not isinstance(cfg, RunConfig):
            return []
        findings = config_findings(cfg)
        try:
            findings += data_findings(cfg, dataset_facts(cfg.data))
        except InputError:
            pass
        for f in findings:
            if not f.refuse and f.text not in seen:
                seen.add(f.text)
                lines[label + f.text] = None
    return list(lines)
