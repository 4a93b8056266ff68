"""Serving settings, read once: `conf/serving.yaml` holds the values; GENRE_SERVING_CONFIG names a
YAML file whose keys override them; GENRE_MODEL_TAG names the one model to use (e.g.
`genre-crnn-keras:latest`). The model names themselves come from `conf/tracking.yaml`, the one
place that names them. `ServingConfig` only checks: every key required, unknown keys and values refused."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from data.schema import Schema
from library.settings import LibraryConfig
from model.choices import Backend, PrecisionSetting

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


class MPDConfig(Schema):
    host: str
    port: int
    recent: int  # songs played lately that are not queued again


class ServingConfig(Schema):
    model_tags: list[str]  # the first of these in the BentoML store answers (serving.models)
    max_upload_mb: float
    max_duration_seconds: float
    max_files: int
    top_k: int
    max_path_steps: int
    genre_weight: float
    max_batch_size: int
    max_latency_ms: int | None
    timeout_seconds: float
    backend: Backend
    precision: PrecisionSetting
    network_batch: int
    library: LibraryConfig
    mpd: MPDConfig
    genre_names: dict[str, str]  # label -> what `python -m serving tag` writes into files


def load_config() -> ServingConfig:
    tracking = OmegaConf.load(CONF_DIR / "tracking.yaml")
    layers = [OmegaConf.load(CONF_DIR / "serving.yaml")]
    if os.environ.get("GENRE_SERVING_CONFIG"):
        layers.append(OmegaConf.load(os.environ["GENRE_SERVING_CONFIG"]))
    if os.environ.get("GENRE_MODEL_TAG"):
        layers.append(OmegaConf.create({"model_tags": [os.environ["GENRE_MODEL_TAG"]]}))
    # model_tags name the models of conf/tracking.yaml; the tracking block is only there to resolve them.
    names = {key: tracking.tracking[key] for key in ("model_name", "keras_model_name", "musicnn_model_name")}
    merged = OmegaConf.merge({"tracking": names}, *layers)
    values = OmegaConf.to_container(merged, resolve=True)
    values.pop("tracking")
    return ServingConfig.model_validate(values)
