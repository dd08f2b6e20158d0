"""Shared by the generation tests: a tiny torch-fidelity feature extractor (IS/FID/KID in well under a
second on CPU, no weights to download) and toy energy models whose SGLD path can be predicted."""
from __future__ import annotations

import torch
from torch import nn

TINY_FE = "tiny-test-fe"


from torch_fidelity.feature_extractor_base import FeatureExtractorBase  # noqa: E402


class TinyFE(FeatureExtractorBase):
    """A fixed random conv + pooling: 16-d features, 10 logits; counts the images it has seen."""

    seen = 0

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3, 2, 1)
        self.fc = nn.Linear(16, 10)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    @staticmethod
    def get_provided_features_list():
        return ("feat", "logits_unbiased")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits_unbiased", "fid": "feat", "kid": "feat", "prc": "feat"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        type(self).seen += len(x)
        f = torch.relu(self.conv(x.float() / 255)).mean((2, 3))
        out = {"feat": f, "logits_unbiased": self.fc(f)}
        return tuple(out[k] for k in self.features_list)


def register_tiny_fe() -> str:
    """Register ``TINY_FE`` with torch-fidelity once per process (its registry refuses duplicates)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if TINY_FE not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(TINY_FE, TinyFE)
    return TINY_FE


def tiny_fe_class():
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    register_tiny_fe()
    return FEATURE_EXTRACTORS_REGISTRY[TINY_FE]


class MeanPixel(nn.Module):
    """Every logit is the mean pixel value: E(x, y) = −mean(x) for all y, a landscape with a known gradient."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm1d(1)  # only so that eval/train mode is observable

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return m[:, None].expand(-1, self.num_classes)
