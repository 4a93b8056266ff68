"""Long songs under concurrent load: `bentoml serve` on its default configuration,
fresh (no warm-up: the first requests of a new server are measured too), `--clients` clients
posting long songs to /classify all at once, one song after another: errors (must be 0), p50
and p99 latency, and the network's windows per second.

    python benchmarks/long_songs.py [--clients 4,8] [--songs-per-client 2] [--models smoke,keras]

Songs are generated (data.synthetic), 5 to 9 minutes each, 16-bit wav. The models have the
architectures of the smoke experiment (3 s windows, narrow CRNN: 194-373 windows a song) and of
the old Keras model (the faithful CRNN on 29 s windows), with random weights (their speed does
not depend on them), in a temporary BentoML store under the name the server serves.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
from pathlib import Path

import bentoml
import numpy as np
import soundfile as sf
from common import classify_concurrently, emit, faithful_artifact
from local_server import local_server

from data.gtzan import GENRES
from data.synthetic import SAMPLE_RATE, render_clip
from serving.config import load_config

MODELS = {"smoke": ("short", "crnn_small"), "keras": ("choi", "crnn")}  # features, model config groups
MINUTES = (5, 6, 7, 8, 9)


def make_songs(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"{GENRES[i % len(GENRES)]}-{MINUTES[i % len(MINUTES)]}min.wav"
        sf.write(path, render_clip(GENRES[i % len(GENRES)], 60.0 * MINUTES[i % len(MINUTES)], np.random.default_rng(i)),
                 SAMPLE_RATE, subtype="PCM_16")
        paths.append(path)
    return paths


def drive(url: str, songs: list[Path], clients: int, per_client: int) -> tuple[list[float], collections.Counter, int, float]:
    """(latencies of the answered songs in s, error answers by status and body, windows, seconds)."""
    results, elapsed = classify_concurrently(url, songs, clients, per_client)
    errors = collections.Counter(f"{a.status_code} {a.text[:200]}" for _, a in results if a.status_code != 200)
    windows = sum(len(a.json()["windows"]) for _, a in results if a.status_code == 200)
    return [s for s, a in results if a.status_code == 200], errors, windows, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="4,8")
    parser.add_argument("--songs-per-client", type=int, default=2)
    parser.add_argument("--models", default="smoke,keras")
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        songs = make_songs(tmp / "songs", len(MINUTES))
        os.environ["BENTOML_HOME"] = str(tmp / "bentoml")
        for name in args.models.split(","):
            with bentoml.models.create(config.model_tags[0].split(":")[0]) as model:  # the name the server serves
                faithful_artifact(*MODELS[name]).save(model.path)
            env = {"BENTOML_HOME": os.environ["BENTOML_HOME"], "GENRE_MODEL_TAG": str(model.tag)}
            for clients in (int(c) for c in args.clients.split(",")):
                with local_server(env, tmp / f"serve-{name}-{clients}.log") as url:
                    latencies, errors, windows, elapsed = drive(url, songs, clients, args.songs_per_client)
                params = {"model": name, "clients": clients, "requests": clients * args.songs_per_client,
                          "song_minutes": f"{MINUTES[0]}-{MINUTES[-1]}", "max_batch_size": config.max_batch_size,
                          "max_latency_ms": config.max_latency_ms}
                emit("long_songs", "errors", sum(errors.values()), "request", **params, answers=dict(errors))
                for q in (50, 99):
                    emit("long_songs", f"latency_p{q}", float(np.percentile(latencies, q)) if latencies else float("nan"), "s", **params)
                emit("long_songs", "windows_per_second", windows / elapsed, "window/s", **params)


if __name__ == "__main__":
    main()
