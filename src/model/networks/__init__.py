"""Network factory: one config dict (`name` plus keyword arguments) and the label count -> module.

Packaged models store the dict and the labels, so the service rebuilds exactly the trained
network; the number of outputs always comes from the label list, never from a second setting.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from model.networks.baseline import ConvPoolNet
from model.networks.crnn import CRNN
from model.networks.keras_crnn import KerasCRNN
from model.networks.musicnn import Musicnn

NETWORKS: dict[str, type[nn.Module]] = {"crnn": CRNN, "baseline": ConvPoolNet, "keras_crnn": KerasCRNN, "musicnn": Musicnn}
HEAD = "head."  # every network's last layer, one output per label, is `head`: its weights start with this


def conv_layers(network: nn.Module) -> list[nn.Module]:
    """The convolutional part of any of these networks: its convolutions and batch norms (the
    input's included), what fine-tuning may freeze while a new head settles."""
    return [m for m in network.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d)]


def build_network(config: dict[str, Any], n_classes: int) -> nn.Module:
    options = dict(config)
    name = options.pop("name")
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose from {sorted(NETWORKS)}")
    if "n_classes" in options:
        raise ValueError("a network config does not set n_classes: it is the length of the label list")
    return NETWORKS[name](n_classes=n_classes, **options)
