"""Indexing a library on Ray beside the embedded indexer, in the same run on the same songs:
songs/h (and per CPU core) of each engine, Ray's overhead on one machine as a ratio, and
whether both stored the same answers; and what a library takes on disk per song (records and
vector index), for sizing one past a single machine.

    python benchmarks/ray_index.py [--cache DIR] [--songs N]

Songs: the first N of benchmarks/indexing.py's real songs (Debian's music packages, fetched into
`--cache`). Model: the old Keras CRNN (real weights, ../shared/seed), the serving settings'
backend and precision. The Ray engine runs on a local Ray instance started here on every core
(its start-up, a one-off cost per run, is reported apart); on a machine with GPUs its network
actors take one GPU each. Needs `pip install -e ".[dev,bench,cluster]" -c constraints.txt`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
from common import SHARED, emit
from indexing import fetch_songs

from library.indexer import analysis_settings, engine, index_library
from library.settings import LibraryConfig
from library.store import Library
from model.precision import load_classifier
from model.predict import GenrePredictor
from serving.config import load_config
from training.import_keras import keras_artifact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "genre-recsys-benchmark-music")
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--stored", type=int, default=100_000, help="songs in the library whose size per song is measured")
    args = parser.parse_args()
    config = load_config()
    artifact = keras_artifact(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    classifier, how = load_classifier(artifact, config.backend, config.precision, config.network_batch)
    predictor = GenrePredictor(artifact, classifier)
    analysis = analysis_settings("keras", predictor, config.library.max_windows)
    settings = config.library
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "music")
        folder.mkdir()
        for song in fetch_songs(args.cache)[: args.songs]:
            (folder / song.name).symlink_to(song)

        def run(name: str, engine) -> tuple[float, dict[str, np.ndarray]]:
            library = Library(Path(tmp, name))
            summary = index_library(folder, library, engine, artifact.labels, artifact.tags, analysis, config.genre_weight, settings,
                                    progress=False)
            songs = library.songs()
            library.close()
            assert summary.analysed == len(songs) == args.songs and not summary.failed, summary.lines()
            minutes = sum(s.duration for s in songs) / 60
            common = {"songs": len(songs), "mean_song_minutes": round(minutes / len(songs), 2), "model": "keras",
                      "network": how, "engine": name}
            rate = summary.analysed / summary.seconds * 3600
            emit("ray_index", "songs_per_hour", rate, "song/h", **common)
            emit("ray_index", "songs_per_hour_per_core", rate / os.cpu_count(), "song/h", **common)
            emit("ray_index", "four_minute_songs_per_hour_per_core", minutes / 4 / summary.seconds * 3600 / os.cpu_count(),
                 "song/h", **common)
            return rate, {s.path: np.concatenate([s.probabilities, s.embedding]) for s in songs}

        here, here_answers = run("embedded", engine("embedded", predictor, settings, config.backend, config.network_batch))
        started = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        emit("ray_index", "ray_start_seconds", time.perf_counter() - started, "s", gpus=gpus)
        try:
            on_cluster, cluster_answers = run("ray", engine("ray", predictor, settings, config.backend, config.network_batch))
        finally:
            ray.shutdown()
        emit("ray_index", "embedded_over_ray", here / on_cluster, "ratio", songs=args.songs, gpus=gpus)
        difference = max(float(np.abs(here_answers[p] - cluster_answers[p]).max()) for p in here_answers)
        emit("ray_index", "largest_answer_difference", difference, "abs", songs=args.songs)
        db, vectors = bytes_per_song(Path(tmp, "embedded"), args.stored, config.genre_weight, settings)
        emit("ray_index", "library_db_bytes_per_song", db, "B", songs=args.stored)
        emit("ray_index", "library_faiss_bytes_per_song", vectors, "B", songs=args.stored)


def bytes_per_song(source: Path, n: int, genre_weight: float, settings: LibraryConfig) -> tuple[float, float]:
    """What a library of `n` songs takes per song on disk (library.db, library.faiss): the real
    rows of `source` repeated under new paths and content hashes."""
    with sqlite3.connect(source / "library.db") as db:
        db.row_factory = sqlite3.Row
        real = [dict(row) for row in db.execute("SELECT * FROM songs")]
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(tmp)
        for start in range(0, n, 10_000):
            rows = []
            for i in range(start, min(n, start + 10_000)):
                row = dict(real[i % len(real)])
                path = Path(row["path"])
                row.update(path=str(path.with_name(f"{i:08d} {path.name}")),
                           content_hash=hashlib.sha256(str(i).encode()).hexdigest())
                rows.append(row)
            library.write(rows, [], [], [])
        library.load_vector_index(genre_weight, settings)
        library.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = library.db_path.stat().st_size / n, library.vector_index_path.stat().st_size / n
        library.close()
    return sizes


if __name__ == "__main__":
    main()
