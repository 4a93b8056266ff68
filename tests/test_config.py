"""Every configuration composes and validates, without running anything."""

from __future__ import annotations

import itertools

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf
from pydantic import ValidationError

from conftest import REPO
from data.features import SpectrogramConfig
from data.gtzan import GENRES
from data.windows import WindowConfig
from model.networks import build_network
from serving.config import load_config
from training.config import compose_config
from training.errors import check_arguments

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
TRAINERS = sorted(p.stem for p in (REPO / "conf" / "trainer").glob("*.yaml"))


@pytest.mark.parametrize("experiment,trainer", list(itertools.product(EXPERIMENTS, TRAINERS)))
def test_every_experiment_composes_with_every_trainer(experiment, trainer):
    cfg = compose_config(f"experiment={experiment}", f"trainer={trainer}")
    spectrogram = SpectrogramConfig.model_validate(OmegaConf.to_container(cfg.data.spectrogram, resolve=True))
    windows = WindowConfig.model_validate(OmegaConf.to_container(cfg.data.windows, resolve=True))
    network = build_network(OmegaConf.to_container(cfg.model.network, resolve=True), len(GENRES))
    assert network.head.out_features == len(GENRES)
    assert cfg.model.network.n_mels == spectrogram.n_mels and windows.mode == "sliding"
    for spec in [cfg.trainer, cfg.logger, cfg.data, cfg.model, *cfg.callbacks.values()]:
        assert get_class(spec._target_)  # every target imports
    check_arguments(cfg)  # and takes every key its block gives it
    assert cfg.tracking.ranking_metric == f"best_{cfg.callbacks.model_checkpoint.monitor}"
    assert (trainer == "ddp") == (cfg.trainer.get("strategy") == "ddp")


def test_the_experiment_list_is_what_readme_promises():
    assert EXPERIMENTS == ["baseline", "crnn", "finetune", "finetune_musicnn", "smoke"] and TRAINERS == ["cpu", "ddp", "gpu"]


def test_the_keras_features_are_the_old_projects():
    features = compose_config("features=keras").features
    spectrogram = SpectrogramConfig.model_validate(dict(features.spectrogram))
    windows = WindowConfig.model_validate(dict(features.windows))
    assert (spectrogram.mel_exponent, spectrogram.pad_mode, windows.mode, windows.trim_seconds) == (2.0, "reflect", "keras", 20.0)
    assert windows.frames(spectrogram) == 1366


def test_serving_settings_come_from_yaml_with_the_model_named_once(tmp_path, monkeypatch):
    monkeypatch.delenv("GENRE_SERVING_CONFIG", raising=False)
    monkeypatch.delenv("GENRE_MODEL_TAG", raising=False)
    tracking = OmegaConf.load(REPO / "conf" / "tracking.yaml").tracking
    assert load_config().model_tags == [f"{tracking[name]}:latest" for name in ("model_name", "keras_model_name",
                                                                               "musicnn_model_name")]
    overrides = tmp_path / "serving.yaml"
    overrides.write_text("top_k: 3\n")
    monkeypatch.setenv("GENRE_SERVING_CONFIG", str(overrides))
    monkeypatch.setenv("GENRE_MODEL_TAG", "genre-crnn-keras:latest")
    config = load_config()
    assert config.top_k == 3 and config.model_tags == ["genre-crnn-keras:latest"] and config.max_files == 50


@pytest.mark.parametrize("text,message", [
    ("top_kk: 3\n", "top_kk"),
    ("backend: turbo\n", "'eager', 'fused' or 'compiled'"),
    ("precision: fp16\n", "'auto', 'fp32' or 'bf16'"),
])
def test_a_wrong_serving_setting_is_refused_naming_it(tmp_path, monkeypatch, text, message):
    overrides = tmp_path / "serving.yaml"
    overrides.write_text(text)
    monkeypatch.setenv("GENRE_SERVING_CONFIG", str(overrides))
    with pytest.raises(ValidationError, match=message):
        load_config()
