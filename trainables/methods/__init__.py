"""Training-method registry (method.md §4); every method composes with DER."""
from __future__ import annotations

from trainables.methods.base import Method, StepOutput, frozen_bn_stats
from trainables.schema.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")

from trainables.methods import adversarial_ce, gradalign, trades  # noqa: E402,F401  (fill METHODS)


def build_method(method_cfg, der_cfg, autocast=None) -> Method:
    """Instantiate the configured method with its DER term."""
    kwargs = {} if autocast is None else {"autocast": autocast}
    return METHODS.get(method_cfg.name)(method_cfg, der_cfg, **kwargs)


__all__ = ["METHODS", "Method", "StepOutput", "build_method", "frozen_bn_stats"]
