"""The model core in milliseconds: the packaged format, window -> song, and the parity that makes
a packaged model's check agree exactly with the run's own test."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from conftest import data_module
from training.config import feature_settings
from data.datamodule import ClipWindowsDataset
from data.gtzan import GENRES
from data.synthetic import generate
from model.artifact import ModelArtifact
from model.networks import build_network
from model.predict import PreparedSong, SongAnalyzer, WindowOutputs, song_means, window_probabilities
from training.config import compose_config
from training.module import GenreClassifier


def smoke_artifact(output: str = "softmax") -> ModelArtifact:
    cfg = compose_config("experiment=smoke")
    spectrogram, windows = feature_settings("experiment=smoke")
    torch.manual_seed(0)
    network = OmegaConf.to_container(cfg.model.network, resolve=True)
    state = build_network(network, len(GENRES)).state_dict()
    return ModelArtifact(network, spectrogram, windows, list(GENRES), state, output, {"note": "test"})


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    generate(root, clips_per_genre=3, seconds=4.0, seed=5)
    return root


def test_an_artifact_saves_and_loads_as_it_was(tmp_path):
    artifact = smoke_artifact("sigmoid_sum")
    artifact.save(tmp_path / "model")
    loaded = ModelArtifact.load(tmp_path / "model")
    assert (loaded.network_config, loaded.spectrogram, loaded.windows) == (artifact.network_config, artifact.spectrogram, artifact.windows)
    assert (loaded.labels, loaded.output, loaded.info) == (artifact.labels, "sigmoid_sum", {"note": "test"})
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in artifact.state_dict.items())
    x = torch.randn(2, 1, 64, artifact.windows.frames(artifact.spectrogram))
    assert torch.equal(loaded.build_network()(x)[0], artifact.build_network()(x)[0])


def test_an_artifact_refuses_weights_that_do_not_fit():
    artifact = smoke_artifact()
    artifact.network_config = {**artifact.network_config, "gru_hidden": 8}
    with pytest.raises(RuntimeError, match="size mismatch"):
        artifact.build_network()


def test_an_artifact_from_a_real_lightning_checkpoint(tmp_path, small_root):
    cfg = compose_config("experiment=smoke")
    data = data_module(small_root, tmp_path / "cache", "data.synthetic=null", "data.num_workers=0")
    model = GenreClassifier.from_config(cfg, data.labels)
    trainer = L.Trainer(max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp_path / "run.ckpt", weights_only=True)
    artifact = ModelArtifact.from_checkpoint(tmp_path / "run.ckpt", info={"mlflow_run_id": "r1"})
    assert artifact.spectrogram == data.spectrogram and artifact.windows == data.windows
    assert artifact.labels == list(GENRES) and artifact.output == "softmax" and artifact.info == {"mlflow_run_id": "r1"}
    x = torch.randn(3, 1, 64, data.windows.frames(data.spectrogram))
    with torch.inference_mode():
        assert torch.allclose(artifact.build_network()(x)[0], model.network.eval()(x)[0])


def test_window_probabilities_softmax_and_the_keras_models_normalised_sigmoid():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    soft = window_probabilities(logits, "softmax")
    assert torch.allclose(soft, torch.softmax(logits, dim=1))
    keras = window_probabilities(logits, "sigmoid_sum")
    assert torch.allclose(keras.sum(dim=1), torch.ones(2))
    assert torch.allclose(keras[0], torch.sigmoid(logits[0]) / torch.sigmoid(logits[0]).sum())
    assert not torch.allclose(keras[0], soft[0])  # two different rules, not one under two names


def test_a_song_is_the_mean_of_its_windows():
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]])
    assert torch.allclose(song_means(values, torch.tensor([0, 0, 1]), 2), torch.tensor([[0.5, 0.5], [0.2, 0.8]]))
    analyzer = SongAnalyzer(smoke_artifact())
    rng = np.random.default_rng(0)
    outputs = WindowOutputs(rng.random((4, len(GENRES))).astype(np.float32), rng.random((4, 3)).astype(np.float32),
                            np.zeros((4, 0), np.float32))
    song = analyzer.summarize("x.wav", _prepared(4), outputs)
    assert np.allclose(song.probabilities, outputs.probabilities.mean(axis=0))
    assert np.allclose(song.embedding, outputs.embeddings.mean(axis=0))
    assert song.tags.shape == (0,) and song.top_tags() == {}  # a genre-only model has no tags
    # the service's transport: one structured array, the same numbers back, with tags or without
    tagged = outputs._replace(tags=rng.random((4, 50)).astype(np.float32))
    for sent in (outputs, tagged):
        again = WindowOutputs.from_records(sent.records())
        assert all(np.array_equal(a, b) for a, b in zip(again, sent, strict=True))
    assert [w.start for w in song.windows] == [0.0, 1.5, 3.0, 4.5] and song.windows[-1].end == 6.0


def _prepared(n: int) -> PreparedSong:
    return PreparedSong(np.zeros((n, 1, 64, 10), np.float32), [1.5 * i for i in range(n)], 6.0)


def test_training_evaluates_a_clip_on_exactly_the_windows_the_service_cuts(tmp_path, small_root):
    data = data_module(small_root, tmp_path / "cache", "data.synthetic=null", "data.num_workers=0")
    data.setup("test")
    evaluation = ClipWindowsDataset(data.clips["test"], data._logmels["test"], data.windows, data.spectrogram)
    analyzer = SongAnalyzer(smoke_artifact())
    assert data.clips["test"]
    for i, clip in enumerate(data.clips["test"]):
        windows, _ = evaluation[i]
        served = analyzer.prepare(clip.path).windows
        assert windows.shape[0] >= 2 and torch.equal(windows, torch.from_numpy(served))


def test_training_evaluates_with_the_old_models_cut_exactly_as_it_is_served(tmp_path, synthetic_root):
    """A run started from the old model (init_from) takes its features and its Keras cut: the
    centre 29.12 s of a 30 s clip, its log-mel computed on its own."""
    data = data_module(synthetic_root, tmp_path / "cache", "features=keras", "data.synthetic=null", "data.num_workers=0")
    data.setup("test")
    evaluation = ClipWindowsDataset(data.clips["test"][:3], data._logmels["test"][:3], data.windows, data.spectrogram)
    analyzer = SongAnalyzer(ModelArtifact({"name": "keras_crnn"}, data.spectrogram, data.windows, list(GENRES), {}, "sigmoid_sum"))
    for i, clip in enumerate(data.clips["test"][:3]):
        windows, _ = evaluation[i]
        served = analyzer.prepare(clip.path).windows
        assert windows.shape == (1, 1, 96, 1366) and torch.equal(windows, torch.from_numpy(served))
