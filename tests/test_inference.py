"""The rewritten inference networks give the eager network's answers."""

import pytest
import torch

from conftest import shared_path
from data.gtzan import GENRES
from model.networks import build_network
from model.runtime import InferenceNetwork, fuse
from training.config import network_config
from training.import_keras import KERAS_NETWORK, convert


def _trained_looking(config):
    """A network whose batch norms hold non-trivial statistics, as after training."""
    torch.manual_seed(0)
    network = build_network(config, len(GENRES)).eval()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.normal_()
            module.bias.data.normal_()
    return network


@pytest.mark.parametrize("overrides,backend", [
    (("model.network.channels=[16,32,32,32]",), "fused"),
    (("experiment=smoke",), "fused"),
    (("model=baseline",), "fused"),
    (("experiment=smoke",), "compiled"),
])
def test_fused_networks_match_eager_within_1e4(overrides, backend):
    config = network_config(*overrides)
    network = _trained_looking(config)
    x = torch.randn(3, 1, config["n_mels"], 141 if config["n_mels"] == 64 else 1366)
    with torch.inference_mode():
        logits, embedding = network(x)
        fast_logits, fast_embedding = InferenceNetwork(network, backend, "fp32")(x)
    assert torch.allclose(fast_logits, logits, atol=1e-4) and torch.allclose(fast_embedding, embedding, atol=1e-4)


def test_fuse_folds_every_batch_norm_and_moves_pooling_first():
    fused = fuse(_trained_looking(network_config()))
    kinds = [type(m).__name__ for m in fused.convs.modules() if not isinstance(m, torch.nn.Sequential)]
    assert "BatchNorm2d" not in kinds and "Dropout" not in kinds
    assert kinds[:3] == ["Conv2d", "MaxPool2d", "ELU"]


def test_the_keras_network_survives_fusing():
    network = build_network(KERAS_NETWORK, len(GENRES))
    network.load_state_dict(convert(shared_path("seed", "crnn_gtzan_jsalbert.h5")))
    x = torch.randn(2, 1, 96, 1366) * 15 - 30
    with torch.inference_mode():
        expected = torch.sigmoid(network.eval()(x)[0])
        fast = torch.sigmoid(InferenceNetwork(network, "fused", "fp32")(x)[0])
        half = torch.sigmoid(InferenceNetwork(network, "fused", "bf16")(x)[0])
    assert torch.allclose(fast, expected, atol=1e-4)
    assert torch.equal(half.argmax(1), expected.argmax(1))
