"""The library's analysis on a Ray cluster: `python -m serving index MUSIC_DIR --engine ray`.

The same analysis as `indexer.embedded`, as a Ray Data pipeline over the files the plan says to
analyse; `indexer.index_library` plans, writes and reports either way:

    file list ──map: decode ▸ log-mel ▸ windows, file tags (CPU tasks)──▶
      ──map_batches: a pool of actors, each loading the network once, fed the windows of
        `library.ray.songs_per_call` songs per call: one actor per GPU when the cluster has
        GPUs, else one per CPU──▶ each song's distribution and embedding
      ──streamed back to this process, which writes them into the library in transactions

On a cluster without GPUs Ray's optimiser fuses the two steps into the actors (the same resources,
so no windows cross the object store); with GPUs, decoding runs in CPU tasks beside them.
Every node needs the project installed (`pip install -e ".[cluster]" -c constraints.txt`) and
the music folder at the path this process sees (a shared or network file system).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np

from data.file_tags import FileTags, read_file_tags
from library.indexer import Analysed, Engine, Outcome, ToAnalyse, prepare
from library.settings import LibraryConfig
from model.artifact import ModelArtifact
from model.choices import Backend, Precision
from model.predict import GenrePredictor, SongAnalyzer, WindowClassifier

try:
    import ray
    import ray.data
except ImportError as exc:  # the optional extra
    raise ImportError(
        f"the Ray engine needs Ray: pip install -e \".[cluster]\" -c constraints.txt ({exc})") from exc

FILE_TAGS = tuple(field.name for field in fields(FileTags))


def on_ray(artifact: ModelArtifact, backend: Backend, precision: Precision, settings: LibraryConfig,
           network_batch: int, address: str | None) -> Engine:
    """The engine: connects to the cluster at `address` (None: starts Ray on this machine's
    cores, shut down when done) when there is something to analyse."""

    def analyse(todo: list[ToAnalyse]) -> Iterator[tuple[ToAnalyse, Outcome]]:
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=address) if address else ray.init(include_dashboard=False)
        try:
            yield from _run(todo, artifact, backend, precision, settings, network_batch)
        finally:
            if started_here:
                ray.shutdown()

    return analyse


def _run(todo: list[ToAnalyse], artifact: ModelArtifact, backend: Backend, precision: Precision,
         settings: LibraryConfig, network_batch: int) -> Iterator[tuple[ToAnalyse, Outcome]]:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # index_library shows one bar for the whole run
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    actors = gpus or cpus
    # A block of the file list is one actor call's songs; a short list is spread over every actor.
    per_call = min(settings.ray.songs_per_call, math.ceil(len(todo) / actors))
    files = ray.data.from_items([{"key": key, "path": file.path} for key, (file, _) in enumerate(todo)],
                                override_num_blocks=math.ceil(len(todo) / per_call))
    prepared = files.map(_prepare, fn_kwargs={"analyzer": SongAnalyzer(artifact), "max_windows": settings.max_windows})
    answers = prepared.map_batches(
        Network, batch_size=per_call, compute=ray.data.ActorPoolStrategy(size=actors),
        **({"num_gpus": 1} if gpus else {"num_cpus": 1}),
        fn_constructor_kwargs={"artifact": artifact, "backend": backend, "precision": precision,
                               "window_batch": settings.ray.gpu_window_batch if gpus else network_batch,
                               "device": "cuda" if gpus else "cpu"})
    for batch in answers.iter_batches(batch_size=None, batch_format="numpy"):
        for i, key in enumerate(batch["key"]):
            if batch["error"][i]:
                yield todo[key], str(batch["error"][i])
            else:
                # A column of file tags that are all missing comes back as NaN, not None.
                file_tags = FileTags(*(value if isinstance(value, str) else None for value in (batch[name][i] for name in FILE_TAGS)))
                yield todo[key], Analysed(float(batch["duration"][i]), int(batch["windows"][i]),
                                          batch["probabilities"][i], batch["embedding"][i], file_tags, batch["tags"][i],
                                          todo[key][1])


def _prepare(row: dict[str, Any], analyzer: SongAnalyzer, max_windows: int | None) -> dict[str, Any]:
    """A CPU task: one file's windows and file tags, or the reason it cannot be used (then no windows)."""
    song = prepare(analyzer, row["path"], max_windows)
    if isinstance(song, str):
        return {"key": row["key"], "error": song, "duration": 0.0, "windows": np.zeros((0, 1, 1, 1), np.float32),
                **dict.fromkeys(FILE_TAGS)}
    file_tags = read_file_tags(row["path"])
    return {"key": row["key"], "error": "", "duration": song.duration, "windows": song.windows,
            **{name: getattr(file_tags, name) for name in FILE_TAGS}}


class Network:
    """An actor of the pool: a `GenrePredictor` loaded once, then each call's songs' windows
    through the network together (`window_batch` windows per forward pass)."""

    def __init__(self, artifact: ModelArtifact, backend: Backend, precision: Precision, window_batch: int, device: str):
        self.predictor = GenrePredictor(artifact, WindowClassifier(artifact, backend, precision, window_batch, device))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Songs in, each song's probabilities, embedding and tags out (empty for a file that failed)."""
        counts = [0 if error else len(windows) for windows, error in zip(batch["windows"], batch["error"])]
        analysed = iter(self.predictor.song_answers([np.asarray(w) for w, count in zip(batch["windows"], counts) if count])
                        if any(counts) else ())
        answers = [next(analysed) if count else (np.zeros(0, np.float32),) * 3 for count in counts]
        return {**{name: batch[name] for name in ("key", "error", "duration", *FILE_TAGS)}, "windows": np.asarray(counts),
                **{name: _column([a[i] for a in answers]) for i, name in enumerate(("probabilities", "embedding", "tags"))}}


def _column(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays of differing lengths as one column of objects (what Ray Data carries per row)."""
    column = np.empty(len(arrays), dtype=object)
    for i, array in enumerate(arrays):
        column[i] = array
    return column
