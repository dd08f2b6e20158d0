"""Dotted-path overrides on typed configs: how a search space's ``der.weight`` reaches a run config."""
from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def with_overrides(cfg: M, overrides: dict[str, object]) -> M:
    """A validated copy of any config with dotted-path overrides, e.g. ``{"der.weight": 0.5}``.

    Raises ``KeyError`` naming the path when it is not a field of the config.
    """
    data, what = cfg.model_dump(), _CONFIG_NAMES.get(type(cfg).__name__, type(cfg).__name__)
    for path, value in overrides.items():
        node, keys = data, path.split(".")
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                raise KeyError(f"{path!r} is not a field of the {what} (no section {k!r}){_suggest(path, data)}")
            node = node[k]
        if keys[-1] not in node:
            raise KeyError(f"{path!r} is not a field of the {what}{_suggest(path, data)}")
        node[keys[-1]] = value
    return type(cfg).model_validate(data)


def resolve_trial(cls: type[M], base: dict, config: dict[str, object], seed_index: int = 0) -> M:
    """The exact config of a Ray trial: ``base`` plus the searcher's overrides in ``config`` (dotted paths or
    top-level fields such as ``epochs``) plus the seed offset of its seed index."""
    cfg = with_overrides(cls.model_validate(base), {k: v for k, v in config.items() if "." in k or k in cls.model_fields})
    return cfg.model_copy(update={"seed": cfg.seed + int(seed_index)})


def _suggest(path: str, data: dict) -> str:
    """A 'did you mean' hint over every dotted field path of the config."""
    from trainables.schema.suggest import did_you_mean

    def paths(node: dict, prefix: str = ""):
        for k, v in node.items():
            yield prefix + k
            if isinstance(v, dict):
                yield from paths(v, f"{prefix}{k}.")

    return did_you_mean(path, paths(data))


_CONFIG_NAMES = {"RunConfig": "run config", "GenerationConfig": "generation config"}
