"""Name → factory registries (datasets, models, attacks, methods) instead of if/elif chains.

Each package owns its registry (``trainables.models.MODELS`` …); ``registry(kind)`` finds it by the
import path below, on first use. That late binding is deliberate: the typed configs (``trainables.schema``)
validate names and read registered facts (a model's options, an optimizer's defaults, a method's
BatchNorm mode) without importing the packages that implement them, so the schema stays the bottom
layer of the science core (the import contracts in ``pyproject.toml`` check it).
"""
from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, TypeVar

from trainables.schema.suggest import did_you_mean

T = TypeVar("T")


class UnknownNameError(ValueError):
    """A name that is not registered; the message lists the allowed names."""


class Registry(Generic[T]):
    """A mapping from a lower-case name to a factory, filled by the ``register`` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            for key in (name, *aliases):
                if key in self._items:
                    raise KeyError(f"{self.kind} {key!r} registered twice")
                self._items[key] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; allowed: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


# kind -> "module:ATTRIBUTE" holding that kind's registry (imported on first use).
_HOMES = {
    "dataset": "trainables.data:DATASETS",
    "model": "trainables.models:MODELS",
    "attack": "trainables.attacks:ATTACKS",
    "method": "trainables.methods:METHODS",
    "optimizer": "trainables.training.optimizers:OPTIMIZERS",
    "init": "trainables.generation.init:INITS",
}


def registry(kind: str) -> Registry:
    module, attr = _HOMES[kind].split(":")
    return getattr(importlib.import_module(module), attr)


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is registered under ``kind``; else raise with the allowed names."""
    registry(kind).get(name)
    return name
