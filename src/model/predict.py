"""Song-level genre prediction: decode -> log-mel -> windows -> network -> one distribution.

The work is split so the service can batch the network call across requests: `SongAnalyzer`
runs per song (`prepare`: audio -> windows; `summarize`: window outputs -> song), while
`WindowClassifier` takes any stack of windows. `GenrePredictor` chains them in one process.
The two rules that turn window outputs into a song's answer, `window_probabilities` and
`song_means`, are the ones training's evaluation uses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from data.audio import open_song
from data.features import LogMel
from data.windows import read_windows
from model.artifact import ModelArtifact, Output
from model.choices import Backend, Precision
from model.runtime import InferenceNetwork
from model.song import SongPrediction, WindowPrediction, genre_shares


def window_probabilities(logits: torch.Tensor, output: Output) -> torch.Tensor:
    """(n, labels) logits -> each window's probabilities: a distribution over genres (a softmax
    for networks trained here; the old Keras model's independent sigmoids divided by their sum),
    or a tagger's independent sigmoids."""
    if output == "sigmoid":
        return torch.sigmoid(logits)
    if output == "sigmoid_sum":
        scores = torch.sigmoid(logits)
        return scores / scores.sum(dim=1, keepdim=True)
    return logits.softmax(dim=1)


def window_tags(probabilities: torch.Tensor, tag_logits: list[torch.Tensor], output: Output) -> torch.Tensor:
    """(n, tags) each window's tag probabilities: a tagger's own probabilities, the sigmoids of
    the tag head beside a genre head, or no columns for a network with genres only."""
    if tag_logits:
        return torch.sigmoid(tag_logits[0])
    if output == "sigmoid":
        return probabilities
    return probabilities.new_zeros(len(probabilities), 0)


def song_means(window_values: torch.Tensor, song_index: torch.Tensor, n_songs: int) -> torch.Tensor:
    """Mean of the window rows (probabilities or embeddings) of each song: a song's answer."""
    sums = torch.zeros(n_songs, window_values.shape[-1], dtype=window_values.dtype, device=window_values.device)
    sums.index_add_(0, song_index, window_values)
    counts = torch.bincount(song_index, minlength=n_songs).clamp_min(1).unsqueeze(1)
    return sums / counts.to(sums.dtype)


@dataclass
class PreparedSong:
    windows: np.ndarray  # (n, 1, n_mels, frames) float32
    starts: list[float]  # window start times, seconds
    duration: float  # seconds of audio


class WindowOutputs(NamedTuple):
    """What the network gives for a stack of windows, one row per window."""

    probabilities: np.ndarray  # (n, labels)
    embeddings: np.ndarray  # (n, embedding size)
    tags: np.ndarray  # (n, tags): no columns for a network with genres only

    def records(self) -> np.ndarray:
        """One structured array with a field each, for a transport that carries one array (the
        service's batched network call)."""
        records = np.empty(len(self.probabilities), dtype=[(name, np.float32, rows.shape[1:])
                                                           for name, rows in self._asdict().items()])
        for name, rows in self._asdict().items():
            records[name] = rows
        return records

    @classmethod
    def from_records(cls, records: np.ndarray) -> WindowOutputs:
        return cls(*(np.array(records[name]) for name in cls._fields))


class SongAnalyzer:
    """The per-song ends of the path: audio -> windows, and window outputs -> a prediction."""

    def __init__(self, artifact: ModelArtifact):
        self.spectrogram, self.window_config = artifact.spectrogram, artifact.windows
        self.labels, self.tags = artifact.labels, artifact.tags
        self.logmel = LogMel(artifact.spectrogram)

    def prepare(self, path: str | Path, max_seconds: float | None = None, max_windows: int | None = None) -> PreparedSong:
        """Decode and cut into windows (up to `max_windows`, evenly spread; None: all); raises
        `AudioDecodeError` for unusable files."""
        with open_song(path, max_seconds) as song:
            windows, starts, seconds = read_windows(song, self.window_config, self.logmel, max_windows)
        return PreparedSong(windows.numpy(), starts, seconds)

    def song_answer(self, outputs: WindowOutputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A song's probabilities, embedding and tags: the means of its windows' outputs."""
        one_song = torch.zeros(len(outputs.probabilities), dtype=torch.long)
        # torch.tensor copies: the outputs the service receives are read-only
        return tuple(song_means(torch.tensor(rows), one_song, 1)[0].numpy() for rows in outputs)

    def summarize(self, name: str, song: PreparedSong, outputs: WindowOutputs) -> SongPrediction:
        """The song's answer (`song_answer`) with each window's distribution."""
        windows = [
            WindowPrediction(round(start, 3), round(min(start + self.window_config.seconds, song.duration), 3),
                             genre_shares(self.labels, row))
            for start, row in zip(song.starts, outputs.probabilities)
        ]
        probabilities, embedding, tags = self.song_answer(outputs)
        return SongPrediction(name, self.labels, probabilities, embedding, windows, song.duration, tags=tags,
                              tag_labels=self.tags)


class WindowClassifier:
    """The network: any stack of windows -> probabilities and embeddings, `batch_size` at a time.

    `backend` and `precision` choose how it runs (model.runtime): "fused" fp32 is exact and
    about twice as fast as "eager" on CPUs. `device` is where the network runs ("cuda" on a
    GPU worker of the cluster indexer); inputs and outputs stay numpy arrays in memory.
    """

    def __init__(self, artifact: ModelArtifact, backend: Backend, precision: Precision, batch_size: int,
                 device: str = "cpu"):
        self.network = InferenceNetwork(artifact.build_network().to(device), backend, precision)
        self.precision = precision
        self.output = artifact.output
        self.batch_size = batch_size
        self.device = torch.device(device)

    @torch.inference_mode()
    def forward(self, windows: np.ndarray) -> WindowOutputs:
        """(n, 1, n_mels, frames) -> each window's probabilities, embedding and tags."""
        outputs: list[tuple[torch.Tensor, ...]] = []
        for batch in torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).split(self.batch_size):
            logits, embedding, *tag_logits = self.network(batch.to(self.device))
            probabilities = window_probabilities(logits, self.output)
            outputs.append((probabilities, embedding, window_tags(probabilities, tag_logits, self.output)))
        return WindowOutputs(*(torch.cat(column).cpu().numpy() for column in zip(*outputs)))


class GenrePredictor:
    """Both ends and the network in one process: the CLI, the library's engines and the checks."""

    def __init__(self, artifact: ModelArtifact, classifier: WindowClassifier):
        self.artifact = artifact
        self.analyzer = SongAnalyzer(artifact)
        self.classifier = classifier
        self.labels = artifact.labels

    def predict(self, path: str | Path, name: str | None = None, max_seconds: float | None = None) -> SongPrediction:
        song = self.analyzer.prepare(path, max_seconds)
        answer = self.analyzer.summarize(name or Path(path).name, song, self.classifier.forward(song.windows))
        answer.path = str(Path(path).resolve())
        return answer

    def song_answers(self, songs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each song's (probabilities, embedding, tags) from its windows, all songs' windows
        through the network together."""
        outputs = self.classifier.forward(np.concatenate(songs))
        ends = np.cumsum([len(windows) for windows in songs])
        return [self.analyzer.song_answer(WindowOutputs(*(rows[end - len(windows):end] for rows in outputs)))
                for windows, end in zip(songs, ends)]
