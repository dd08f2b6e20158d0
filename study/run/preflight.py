"""The resources side of the pre-flight of ``study run``: what a trial asks of Ray, refused before anything is recorded.

In this order, all before the catalog, Optuna, MLflow or the log file are touched (exit code 2):

1. ``check_request``: what a trial asks for is schedulable at all (a GPU share above 1 must be whole).
2. The kind's own checks (``study.kinds.preflight``: every run config the search can produce against its
   dataset's facts), called through ``StudyKind.preflight``.
3. ``check_cluster``: once Ray is up, some node must offer a trial's CPUs and GPUs; otherwise Ray would
   wait forever with an "insufficient resources" warning every minute.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

from study.errors import UserError
from study.errors.wording import show

if TYPE_CHECKING:
    from study.spec.spec import StudySpec


def check_request(spec: StudySpec) -> None:
    gpu = spec.resources.gpu
    if gpu > 1 and not float(gpu).is_integer():
        raise UserError(f"resources.gpu = {show(gpu)} cannot be scheduled: a trial gets a share of one GPU (at most 1, "
                        f"e.g. 0.5) or whole GPUs (2, 3, ...); set resources.gpu to {int(gpu)} or {int(gpu) + 1}")


def _node_line(node: dict) -> str:
    r = node.get("Resources", {})
    return f"{node.get('NodeManagerAddress', '?')}: {r.get('CPU', 0):g} CPU, {r.get('GPU', 0):g} GPU"


def local_node(num_cpus: Optional[float], num_gpus: Optional[float]) -> dict:
    """The node a local Ray will be started as (``study.run.cluster.init_ray``), known without starting it:
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
