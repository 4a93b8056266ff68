"""MSD-musicnn's port: its TensorFlow checkpoint read without TensorFlow, the PyTorch network
against TensorFlow's own outputs, and this project's features against the original pipeline's.

tests/data/musicnn_fixture.npz holds what TensorFlow 2.21 and librosa (resampy's kaiser_best)
gave for the first four 187-frame patches of ../shared/gtzan_mini's jazz.00000.wav
(devtools/musicnn_fixture.py made it in an environment of its own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_path
from model.artifact import ModelArtifact
from model.predict import SongAnalyzer
from training.import_musicnn import musicnn_artifact
from training.tensor_bundle import BundleError, read_bundle

FIXTURE = np.load(Path(__file__).parent / "data" / "musicnn_fixture.npz")


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def artifact(musicnn_folder) -> ModelArtifact:
    return musicnn_artifact(musicnn_folder)


def test_the_checkpoint_is_read_without_tensorflow(musicnn_folder, tmp_path):
    tensors = read_bundle(f"{musicnn_folder / 'MSD_musicnn'}/")  # the prefix is the folder itself
    weights = {k: v for k, v in tensors.items() if "Adam" not in k and "power" not in k and "moving" not in k}
    assert sum(v.size for v in weights.values()) == 787_159  # the paper's model, trainable parameters
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204) and tensors["dense_1/kernel"].shape == (200, 50)
    (tmp_path / "x.index").write_bytes(b"not a table")
    (tmp_path / "x.data-00000-of-00001").write_bytes(b"")
    with pytest.raises(BundleError, match="x.index: not a TensorFlow table"):
        read_bundle(tmp_path / "x")


def test_the_port_gives_tensorflows_tags_and_embedding(artifact):
    network = artifact.build_network()
    patches = torch.from_numpy(FIXTURE["patches"]).transpose(1, 2).unsqueeze(1)  # (patches, 1, mel, time)
    with torch.no_grad():
        logits, embedding = network(patches)
    assert embedding.shape == (4, 200) and len(artifact.labels) == 50 and artifact.labels[17] == "Mellow"
    assert np.abs(torch.sigmoid(logits).numpy() - FIXTURE["tags"]).max() < 1e-4
    assert np.abs(embedding.numpy() - FIXTURE["embedding"]).max() < 1e-4


def test_features_match_the_original_pipeline_as_closely_as_the_resampler_allows(artifact):
    """From the file to the network's outputs, this project's decoding, resampling and log-mel
    against librosa's with resampy: the kaiser_best setting keeps every patch's embedding within
    cosine 0.99998 (tags within 0.005); torchaudio's default sinc, 0.993 worst on this clip."""
    clip = shared_path("gtzan_mini", "genres", "jazz", str(FIXTURE["clip"]))
    network = artifact.build_network()
    closeness = {}
    for resampler in ("kaiser_best", "sinc"):
        artifact.spectrogram = artifact.spectrogram.model_copy(update={"resampler": resampler})
        windows = SongAnalyzer(artifact).prepare(clip).windows[:4]
        with torch.no_grad():
            logits, embedding = network(torch.from_numpy(windows))
        closeness[resampler] = cosine(embedding.numpy(), FIXTURE["embedding"]).min()
        if resampler == "kaiser_best":
            features = windows[:, 0].transpose(0, 2, 1)
            assert np.abs(features - FIXTURE["patches"]).mean() < 1e-3
            assert np.abs(torch.sigmoid(logits).numpy() - FIXTURE["tags"]).max() < 5e-3
    assert closeness["kaiser_best"] > 0.99998 and closeness["sinc"] < closeness["kaiser_best"]


def test_the_imported_model_is_a_tagger_in_the_store(musicnn_store):
    home = Path(musicnn_store["BENTOML_HOME"])
    [folder] = [p for p in (home / "models" / "musicnn-msd").iterdir() if p.is_dir()]
    artifact = ModelArtifact.load(folder)
    assert artifact.output == "sigmoid" and artifact.tags == artifact.labels and len(artifact.tags) == 50
    assert artifact.spectrogram.resampler == "kaiser_best" and artifact.windows.frames(artifact.spectrogram) == 187
    assert "ISC" in artifact.info["source"]
