"""A song's answer from a network: plain numbers (numpy only), so code that reads stored
answers, such as library queries, never loads torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def genre_shares(labels: list[str], values: np.ndarray) -> dict[str, float]:
    """{genre: share} rounded for JSON: one distribution as clients see it."""
    return {label: round(float(v), 6) for label, v in zip(labels, values)}


@dataclass
class WindowPrediction:
    start: float
    end: float
    probabilities: dict[str, float]


@dataclass
class SongPrediction:
    name: str
    labels: list[str]
    probabilities: np.ndarray  # (genres,), sums to 1
    embedding: np.ndarray  # (embedding size,), mean over windows
    windows: list[WindowPrediction]
    duration: float
    song_id: int | None = None  # the library's id, for a song answered from the library
    path: str | None = None  # the file, where the one who asked named it (not an upload's temporary copy)
    title: str | None = None  # from a library song's tags
    artist: str | None = None

    @property
    def genre(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    def distribution(self) -> dict[str, float]:
        return genre_shares(self.labels, self.probabilities)
