"""The pre-flight of ``study run``: whatever every trial would trip over is refused before anything is recorded.

In this order, all before the catalog, Optuna, MLflow or the log file are touched (exit code 2):

1. ``check_request``: what a trial asks for is schedulable at all (a GPU share above 1 must be whole).
2. ``check_runs`` (called by the train kind): each run config the search can produce (the base, and the
   base with each searched value) against its dataset's facts: split and subset sizes, classes, and
   whether the model takes the images (``trainables.preflight``). Locally the data must be present too.
3. ``check_cluster``: once Ray is up, some node must offer a trial's CPUs and GPUs; otherwise Ray would
   wait forever with an "insufficient resources" warning every minute.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, Optional

from study.errors import UserError
from study.wording import show
from trainables.errors import DatasetNotFoundError, InputError

if TYPE_CHECKING:
    from study.spec import StudySpec


def check_request(spec: StudySpec) -> None:
    gpu = spec.resources.gpu
    if gpu > 1 and not float(gpu).is_integer():
        raise UserError(f"resources.gpu = {show(gpu)} cannot be scheduled: a trial gets a share of one GPU (at most 1, "
                        f"e.g. 0.5) or whole GPUs (2, 3, ...); set resources.gpu to {int(gpu)} or {int(gpu) + 1}")


def variants(spec: StudySpec) -> Iterator[tuple[str, Any]]:
    """(label, config): the kind's base config, then the base with each searched value (bounds of ranges)."""
    from study.kinds import KINDS
    from study.spec import Choice
    from trainables.overrides import with_overrides

    kind = KINDS[spec.kind]
    base = kind.base(spec)
    yield f"{kind.label}: ", base
    for path, dist in spec.search.parameters.items():
        for value in dist.values if isinstance(dist, Choice) else (dist.low, dist.high):
            yield f"{kind.label} with search parameter {path} = {show(value)}: ", with_overrides(base, {path: value})


def check_runs(spec: StudySpec, local: bool) -> None:
    """Every run config of the search must fit its data (on a cluster: as far as it can be told from here)."""
    from trainables.data import check_available, dataset_facts
    from trainables.preflight import check_run

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
    from trainables.generation.run import infer_facts  # the classes and channels the weights were trained for

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


def _node_line(node: dict) -> str:
    r = node.get("Resources", {})
    return f"{node.get('NodeManagerAddress', '?')}: {r.get('CPU', 0):g} CPU, {r.get('GPU', 0):g} GPU"


def local_node(num_cpus: Optional[float], num_gpus: Optional[float]) -> dict:
    """The node a local Ray will be started as (``study.cluster.init_ray``), known without starting it:
    --num-cpus or every CPU of this machine, --num-gpus or the GPUs visible here."""
    if num_gpus is None:
        import torch

        num_gpus = torch.cuda.device_count()
    return {"NodeManagerAddress": "this machine", "Alive": True,
            "Resources": {"CPU": float(num_cpus or os.cpu_count() or 1), "GPU": float(num_gpus)}}


def check_cluster(spec: StudySpec, local: bool, nodes: Optional[list[dict]] = None) -> None:
    """Some alive node must hold one trial's CPUs and GPUs (a trial runs on one node). ``nodes``: the Ray
    per-node view (default: ``ray.nodes()`` of the running Ray; ``local_node`` before a local one starts)."""
    cpu, gpu = spec.resources.cpu, spec.resources.gpu
    if nodes is None:
        import ray

        nodes = ray.nodes()
    nodes = [n for n in nodes if n.get("Alive")]
    if any(n["Resources"].get("CPU", 0) >= cpu and n["Resources"].get("GPU", 0) >= gpu for n in nodes):
        return
    total = {k: sum(n["Resources"].get(k, 0) for n in nodes) for k in ("CPU", "GPU")}
    where = "this machine's Ray" if local else "the Ray cluster"
    more = ("or give the local Ray more with --num-cpus N / --num-gpus N (logical units; --num-gpus only helps "
            "where GPUs exist)" if local else "or add a node that has them (`ray start --address HEAD:PORT`)")
    raise UserError(
        f"resources: each trial asks for {cpu:g} CPU and {gpu:g} GPU on one node, but no node of {where} has that "
        f"({'; '.join(map(_node_line, nodes)) or 'no alive node'}; in all {total.get('CPU', 0):g} CPU, "
        f"{total.get('GPU', 0):g} GPU), so no trial could ever start. Fix: lower resources.cpu / resources.gpu in the "
        f"spec to what one node offers, {more}")


def range_warnings(spec: StudySpec) -> list[str]:
    """Values outside their physical range that are legal but most likely not meant (``trainables.ranges``),
    one line each, for every run config the search can produce (``variants``); the refused ones never get
    here (validation and ``check_runs`` refuse them). Data rules only where the dataset's facts are known."""
    from trainables.config import RunConfig
    from trainables.data import dataset_facts
    from trainables.ranges import config_findings, data_findings

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
