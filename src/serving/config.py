"""Serving settings: `conf/serving.yaml`, or the file named by GENRE_SERVING_CONFIG;
GENRE_MODEL_TAG overrides the model tag (e.g. `genre-crnn-seed:latest`)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from serving.precision import PrecisionSetting
from training.models.inference import Backend

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "conf" / "serving.yaml"


@dataclass(frozen=True)
class ServingConfig:
    model_tag: str = "genre-crnn:latest"
    max_upload_mb: float = 50.0
    max_duration_seconds: float = 900.0
    max_files: int = 50
    top_k: int = 10
    genre_weight: float = 0.7
    max_batch_size: int = 64
    max_latency_ms: int = 10000
    backend: Backend = "fused"
    precision: PrecisionSetting = "auto"
    network_batch: int = 1


def load_config() -> ServingConfig:
    path = Path(os.environ.get("GENRE_SERVING_CONFIG", DEFAULT_FILE))
    values = dict(OmegaConf.to_container(OmegaConf.load(path))) if path.is_file() else {}
    if os.environ.get("GENRE_MODEL_TAG"):
        values["model_tag"] = os.environ["GENRE_MODEL_TAG"]
    unknown = set(values) - {f.name for f in dataclasses.fields(ServingConfig)}
    if unknown:
        raise ValueError(f"{path}: unknown serving settings {sorted(unknown)}")
    return ServingConfig(**values)
