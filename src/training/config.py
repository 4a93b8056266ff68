"""The project's Hydra configuration (`conf/`) for commands that are not the Hydra app itself:
packaging, evaluation and the Keras importer read their defaults from the same groups as
training, so no setting is written twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from data.features import SpectrogramConfig
from data.windows import WindowConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_config(*overrides: str) -> DictConfig:
    """`conf/config.yaml` with `overrides` (e.g. "features=keras"), as `python -m training` composes it."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: a config's settings under the keys a command line overrides."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def feature_settings(*overrides: str) -> tuple[SpectrogramConfig, WindowConfig]:
    """The spectrogram and window settings of the composed config (features=choi, the faithful
    ones, unless `overrides` say otherwise, e.g. "features=keras"), checked by their schemas."""
    features = compose_config(*overrides).features
    return (SpectrogramConfig.model_validate(OmegaConf.to_container(features.spectrogram, resolve=True)),
            WindowConfig.model_validate(OmegaConf.to_container(features.windows, resolve=True)))


def network_config(*overrides: str) -> dict[str, Any]:
    """The network block of the composed config (model=crnn unless `overrides` say otherwise)."""
    return OmegaConf.to_container(compose_config(*overrides).model.network, resolve=True)
