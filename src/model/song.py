"""A song's answer from a network: plain numbers (numpy only), so code that reads stored
answers, such as library queries, never loads torch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TAGS_SHOWN = 5  # a song's top tags in every answer; a library search by tag finds songs showing it


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
    title: str | None = None  # from a library song's file tags
    artist: str | None = None
    tags: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # (tags,) independent probabilities
    tag_labels: list[str] = field(default_factory=list)  # what each of `tags` is; [] for a genre-only model

    @property
    def tagger(self) -> bool:
        """Whether the model's labels are tags (MSD-musicnn): then its top label is a tag, not a genre."""
        return bool(self.tag_labels) and self.tag_labels == self.labels

    @property
    def genre(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    def distribution(self) -> dict[str, float]:
        return genre_shares(self.labels, self.probabilities)

    def top_tags(self, most: int = TAGS_SHOWN) -> dict[str, float]:
        """{tag: probability} of the `most` likeliest tags, likeliest first ({} without tags)."""
        return tag_shares(self.tag_labels, self.tags, most)


def tag_shares(labels: list[str], values: np.ndarray, most: int = TAGS_SHOWN) -> dict[str, float]:
    """{tag: probability} of the `most` likeliest of `labels`, likeliest first, rounded for JSON."""
    order = np.argsort(-values, kind="stable")[:most]
    return {labels[i]: round(float(values[i]), 6) for i in order}
