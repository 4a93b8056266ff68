"""Library queries: `recommend` and `similar` against 10^4, 10^5 and 10^6 songs.

    python benchmarks/queries.py [--sizes 10000,100000,1000000] [--queries 200] [--http-size 100000]

The song vectors are drawn to resemble real ones: the old Keras model analyses the 50 real GTZAN
clips of ../shared/gtzan_mini, and every library song is one of those, perturbed (its genre
distribution redrawn around the clip's, its embedding moved by noise of a third of the
embeddings' spread). Uniform random vectors would be the worst case for graph indexes, not a
library. Queries are favourites' taste vectors (3 random songs each) and single songs.

Figures, per size: the library's own vector index (`Library.write_vector_index`, from a real SQLite
file) both ways, exact (faiss flat) and approximate (faiss IVF, sqrt(n) clusters, the configured
probes), each marked with whether the library chooses it at that size (`library.exact_up_to`):
p50/p99 per query on one thread, recall@10 against the exact answer, build time (every core)
and bytes per song; the whole in-process path of the library (`LibraryQueries`: search,
re-rank, reasons) at 10^4 and 10^5; and p50/p99 over HTTP of a real `bentoml serve` answering
POST /recommend from a library of `--http-size` songs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import bentoml
import faiss
import httpx
import numpy as np
from common import SHARED, emit
from local_server import local_server

from data.folders import read_folder
from data.gtzan import GENRES
from model.precision import load_classifier
from model.predict import GenrePredictor
from library.queries import LibraryQueries
from library.ranking import Songs, song_vectors, taste_vector
from library.settings import LibraryConfig
from library.store import Library
from serving.config import load_config
from training.import_keras import keras_artifact

K = 10


def real_songs() -> tuple[np.ndarray, np.ndarray]:
    """Genre distributions and embeddings of the 50 real GTZAN clips, by the old Keras model."""
    artifact = keras_artifact(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    classifier, _ = load_classifier(artifact, "fused", "fp32", 1)
    predictor = GenrePredictor(artifact, classifier)
    songs = [predictor.predict(clip.path) for clip in read_folder(SHARED / "gtzan_mini").clips]
    return np.stack([s.probabilities for s in songs]), np.stack([s.embedding for s in songs])


def library_like(probs: np.ndarray, embeddings: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    base = rng.integers(len(probs), size=n)
    concentration = 50 * np.clip(probs[base], 1e-3, None)
    p = np.stack([rng.dirichlet(c) for c in concentration]).astype(np.float32) if n <= 20000 else _dirichlet(concentration, rng)
    e = embeddings[base] + rng.normal(scale=embeddings.std(axis=0) / 3, size=(n, embeddings.shape[1]))
    return p, e.astype(np.float32)


def _dirichlet(concentration: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise Dirichlet draws, vectorised (gamma draws normalised)."""
    draws = rng.gamma(concentration)
    return (draws / draws.sum(axis=1, keepdims=True)).astype(np.float32)


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def timed_searches(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    times, answers = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = index.search(q[None], k)
        times.append(time.perf_counter() - start)
        answers.append(ids[0])
    return times, np.stack(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--http-size", type=int, default=100000, help="library size served over HTTP (0: skip)")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    config = load_config()
    weight = config.genre_weight
    probs, embeddings = real_songs()
    for n in [int(s) for s in args.sizes.split(",")]:
        p, e = library_like(probs, embeddings, n, rng)
        no_tags = np.zeros((n, 0), np.float32)
        vectors = song_vectors(Songs(p, e, no_tags), weight)
        picks = rng.integers(n, size=(args.queries, 3))
        tastes = np.stack([taste_vector(Songs(p[i], e[i], no_tags[i]), weight) for i in picks]).astype(np.float32)
        singles = vectors[rng.integers(n, size=args.queries)]
        params = {"songs": n, "dim": vectors.shape[1], "k": K, "threads": 1}
        with tempfile.TemporaryDirectory() as tmp:
            library = fill_library(Path(tmp) / "library", p, e)
            exact = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))  # the truth, by the library's ids
            exact.add_with_ids(*reversed(library.vectors(weight)))
            for kind, settings in (("exact", config.library.model_copy(update={"exact_up_to": n})),
                                   ("ivf", config.library.model_copy(update={"exact_up_to": 0}))):
                if kind == "exact" and n > 10 * config.library.exact_up_to:
                    continue
                faiss.omp_set_num_threads(os.cpu_count() or 1)  # building may use every core
                started = time.perf_counter()
                index = library.write_vector_index(weight, settings)
                faiss.omp_set_num_threads(1)
                chosen = (n > config.library.exact_up_to) == (kind == "ivf")
                build = {**params, "index": kind, "library_default": chosen, **({"probes": settings.probes} if kind == "ivf" else {})}
                emit("queries", "build_seconds", time.perf_counter() - started, "s", **build)
                emit("queries", "index_file_bytes_per_song", library.vector_index_path.stat().st_size / n, "B", **build)
                for query, batch in (("recommend", tastes), ("similar", singles)):
                    times, found = timed_searches(index, batch, K)
                    _, truth = exact.search(batch, K)
                    p50, p99 = percentiles(times)
                    emit("queries", "search_p50", p50, "ms", query=query, **build)
                    emit("queries", "search_p99", p99, "ms", query=query, **build)
                    emit("queries", "recall_at_10", float(np.mean([len(set(a) & set(b)) / K for a, b in zip(found, truth)])),
                         "fraction", query=query, **build)
            if n <= max(100000, args.http_size):
                in_process(library, n, args.queries, rng, weight, config.library)
                if n == args.http_size:
                    over_http(Path(tmp), library, n, args.queries, rng)
            library.close()


def fill_library(folder: Path, p: np.ndarray, e: np.ndarray) -> Library:
    """A real library file with these songs (no audio behind them: queries decode nothing)."""
    library = Library(folder)
    genres = np.asarray(GENRES)[p.argmax(axis=1)]
    rows = [{"path": f"/music/song{i:07d}.ogg", "content_hash": f"{i:064x}", "size": 1, "mtime_ns": 1, "duration": 240.0,
             "title": None, "artist": f"artist {i % 5000}", "album": None, "genre": str(genres[i]),
             "probabilities": p[i].tobytes(), "embedding": e[i].tobytes(), "tags": b"", "windows": 7, "analysed_at": 0.0} for i in range(len(p))]
    for start in range(0, len(rows), 50000):
        library.write(rows[start : start + 50000], [], [], [])
    library.set_meta(labels=list(GENRES), analysis={"model": "benchmark vectors"})
    return library


def in_process(library: Library, n: int, queries: int, rng: np.random.Generator, weight: float,
               settings: LibraryConfig) -> None:
    """The library's whole query path: search, exact re-rank, reasons, the typed answer."""
    started = time.perf_counter()
    asked = LibraryQueries(library, weight, settings)
    emit("queries", "library_load_seconds", time.perf_counter() - started, "s", songs=n)
    ids = list(asked.songs)
    for kind, size in (("recommend", 3), ("similar", 1)):
        times = []
        for _ in range(queries):
            favourites = [asked.prediction(asked.songs[ids[i]]) for i in rng.integers(len(ids), size=size)]
            start = time.perf_counter()
            asked.recommend(favourites, K)
            times.append(time.perf_counter() - start)
        p50, p99 = percentiles(times)
        emit("queries", "library_in_process_p50", p50, "ms", query=kind, songs=n, k=K)
        emit("queries", "library_in_process_p99", p99, "ms", query=kind, songs=n, k=K)


def over_http(tmp: Path, library: Library, n: int, queries: int, rng: np.random.Generator) -> None:
    """POST /recommend with library ids as favourites against a real `bentoml serve`."""
    artifact = keras_artifact(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    os_env = {"BENTOML_HOME": str(tmp / "bentoml")}
    os.environ.update(os_env)  # this process saves the model where the server will look
    name = load_config().model_tags[0].split(":")[0]
    with bentoml.models.create(name) as model:
        artifact.save(model.path)
    library.set_meta(analysis={"model": str(model.tag)})  # the one model that may answer from it
    config = tmp / "serving.yaml"
    config.write_text(f"library:\n  path: {library.folder}\n")
    ids = [i for (i,) in library.db.execute("SELECT id FROM songs")]
    with local_server({**os_env, "GENRE_SERVING_CONFIG": str(config)}, tmp / "serve.log") as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            times = []
            for i in range(queries + 5):
                favourites = [ids[j] for j in rng.integers(len(ids), size=3)]
                start = time.perf_counter()
                answer = client.post("/recommend", data={"favorite_ids": favourites, "top_k": K})
                elapsed = time.perf_counter() - start
                assert answer.status_code == 200, answer.text
                if i >= 5:  # the first requests load the library
                    times.append(elapsed)
    p50, p99 = percentiles(times)
    emit("queries", "http_recommend_p50", p50, "ms", songs=n, k=K, favourites=3)
    emit("queries", "http_recommend_p99", p99, "ms", songs=n, k=K, favourites=3)


if __name__ == "__main__":
    main()
