"""Network factory: one config dict (`name` plus keyword arguments) -> module.

Packaged models store this dict, so the service rebuilds exactly the trained network.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from training.models.baseline import ConvPoolNet
from training.models.crnn import CRNN
from training.models.seed import SeedCRNN

NETWORKS: dict[str, type[nn.Module]] = {"crnn": CRNN, "baseline": ConvPoolNet, "seed_crnn": SeedCRNN}


def build_network(config: dict[str, Any]) -> nn.Module:
    options = dict(config)
    name = options.pop("name")
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose from {sorted(NETWORKS)}")
    return NETWORKS[name](**options)
