import pytest
import torch

from trainables.models import MODELS, build_model, count_parameters
from trainables.schema.registry import UnknownNameError

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


def test_small_cnn_without_batchnorm_is_fast_adversarials_mnist_net():
    """fast_adversarial MNIST/mnist_net.py: conv(1→16, 4, s2, p1), ReLU, conv(16→32, 4, s2, p1), ReLU, flatten,
    linear(32·7·7 → 100), ReLU, linear(100 → 10): 272 + 8,224 + 156,900 + 1,010 = 166,406 parameters, no BN."""
    from trainables.schema.config import ModelConfig
    from trainables.models import build_from_config

    m = build_from_config(ModelConfig(name="small_cnn", width=16, batchnorm=False, normalize=False), 10, 1,
                          [0.1307], [0.3081], 28)
    assert count_parameters(m) == 166_406
    assert not any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules())
    shapes = [tuple(p.shape) for p in m.net.parameters()]
    assert shapes == [(16, 1, 4, 4), (16,), (32, 16, 4, 4), (32,), (100, 1568), (100,), (10, 100), (10,)]
    assert m.mean.item() == 0.0 and m.std.item() == 1.0  # raw [0, 1] pixels, as ToTensor() alone gives
    assert count_parameters(build_model("small_cnn", 10, 1, image_size=28)) == 166_502  # with BatchNorm


def test_model_options_are_checked_against_the_model():
    from trainables.schema.config import ModelConfig

    with pytest.raises(ValueError, match="model.batchnorm does not apply to model 'preact_resnet18'"):
        ModelConfig(name="preact_resnet18", batchnorm=False)
