"""The library's settings (the `library:` block of conf/serving.yaml), checked without torch."""

from __future__ import annotations

from typing import Literal

from data.schema import Schema

Engine = Literal["embedded", "ray"]  # where the indexer analyses: this process, or a Ray cluster


class RayConfig(Schema):
    songs_per_call: int
    gpu_window_batch: int


class LibraryConfig(Schema):
    path: str
    max_windows: int | None
    threads: int
    batch_songs: int
    search_results: int
    exact_up_to: int
    probes: int
    ray: RayConfig
