import pytest
import torch

from trainables.models import MODELS, build_model, count_parameters
from trainables.registry import UnknownNameError

# Known parameter counts for 10 classes and 3 input channels.
KNOWN = {
    "preact_resnet18": 11_172_170,  # ≈ 11.17M (fast_adversarial / robust_overfitting, final BN included)
    "wrn28_10": 36_479_194,
    "wrn34_10": 46_160_474,
    "small_cnn": 215_014,
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_parameter_counts(name):
    assert count_parameters(build_model(name, 10)) == KNOWN[name]


@pytest.mark.parametrize("name,channels,size", [("preact_resnet18", 3, 32), ("small_cnn", 1, 28), ("small_cnn", 3, 32)])
def test_output_shape(name, channels, size):
    m = build_model(name, 7, channels, image_size=size)
    m.eval()
    assert m(torch.rand(2, channels, size, size)).shape == (2, 7)


def test_wide_resnet_output_shape_one_channel():
    m = build_model("wrn28_10", 10, 1).eval()
    assert m(torch.rand(1, 1, 32, 32)).shape == (1, 10)


def test_normalisation_inside_model():
    m = build_model("small_cnn", 10, 3, mean=[0.5] * 3, std=[0.25] * 3)
    x = torch.rand(2, 3, 32, 32)
    m.eval()
    assert torch.allclose(m(x), m.net((x - 0.5) / 0.25))


def test_unknown_model_lists_allowed():
    with pytest.raises(UnknownNameError, match="preact_resnet18"):
        build_model("resnet9000", 10)
    assert "small_cnn" in MODELS
