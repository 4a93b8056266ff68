"""The rewritten inference networks give the eager network's answers."""

import pytest
import torch

from conftest import shared_path
from training.import_seed import SEED_NETWORK, convert
from training.models import build_network
from training.models.inference import InferenceNetwork, fuse


def _trained_looking(config):
    """A network whose batch norms hold non-trivial statistics, as after training."""
    torch.manual_seed(0)
    network = build_network(config).eval()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.normal_()
            module.bias.data.normal_()
    return network


@pytest.mark.parametrize("config,backend", [
    ({"name": "crnn", "channels": [16, 32, 32, 32]}, "fused"),
    ({"name": "crnn", "n_mels": 64, "channels": [16, 32, 32, 32], "pools": [[2, 2]] * 4}, "fused"),
    ({"name": "baseline"}, "fused"),
    ({"name": "crnn", "n_mels": 64, "channels": [16, 32, 32, 32], "pools": [[2, 2]] * 4}, "compiled"),
])
def test_fused_networks_match_eager_within_1e4(config, backend):
    network = _trained_looking(config)
    x = torch.randn(3, 1, config.get("n_mels", 96), 141 if config.get("n_mels") == 64 else 1366)
    with torch.inference_mode():
        logits, embedding = network(x)
        fast_logits, fast_embedding = InferenceNetwork(network, backend)(x)
    assert torch.allclose(fast_logits, logits, atol=1e-4) and torch.allclose(fast_embedding, embedding, atol=1e-4)


def test_fuse_folds_every_batch_norm_and_moves_pooling_first():
    fused = fuse(_trained_looking({"name": "crnn"}))
    kinds = [type(m).__name__ for m in fused.convs.modules() if not isinstance(m, torch.nn.Sequential)]
    assert "BatchNorm2d" not in kinds and "Dropout" not in kinds
    assert kinds[:3] == ["Conv2d", "MaxPool2d", "ELU"]


def test_the_seed_network_survives_fusing():
    network = build_network(SEED_NETWORK)
    network.load_state_dict(convert(shared_path("seed", "crnn_gtzan_jsalbert.h5")))
    x = torch.randn(2, 1, 96, 1366) * 15 - 30
    with torch.inference_mode():
        expected = torch.sigmoid(network.eval()(x)[0])
        fast = torch.sigmoid(InferenceNetwork(network, "fused")(x)[0])
        half = torch.sigmoid(InferenceNetwork(network, "fused", "bf16")(x)[0])
    assert torch.allclose(fast, expected, atol=1e-4)
    assert torch.equal(half.argmax(1), expected.argmax(1))
