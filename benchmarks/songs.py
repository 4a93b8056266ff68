"""The user's view: one four-minute song end to end, and one `recommend` over 20 favourites and
50 candidates of that length, through the CLI's path (decode -> features -> network ->
distribution), each inference option side by side with the eager baseline in the same run.

    python benchmarks/songs.py [--favorites 20] [--candidates 50] [--distinct 5] [--repeats 3]

Songs are generated 4-minute mp3 files (GTZAN-like styles), `--distinct` of them reused across
the lists; the model is the faithful CRNN (its speed does not depend on its weights), run with
the serving settings (conf/serving.yaml: windows per forward pass, top_k, genre_weight).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from common import best_seconds, emit, faithful_artifact, matmul_gflops, window_shape
from torch.utils.flop_counter import FlopCounterMode

from data.gtzan import GENRES
from data.synthetic import SAMPLE_RATE, render_clip
from library.ranking import rank
from model.predict import GenrePredictor, SongAnalyzer, WindowClassifier
from serving.config import load_config
from serving.responses import MadeBy, recommendation

SONG_SECONDS = 240.0
OPTIONS = [("eager", "fp32"), ("fused", "fp32"), ("compiled", "fp32"), ("fused", "bf16")]


def make_songs(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        genre = GENRES[i % len(GENRES)]
        path = folder / f"{genre}-{i}.mp3"
        sf.write(path, render_clip(genre, SONG_SECONDS, np.random.default_rng(i)), SAMPLE_RATE, format="MP3")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--favorites", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--distinct", type=int, default=5, help="distinct generated songs, reused across the lists")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config()
    artifact = faithful_artifact()
    with FlopCounterMode(display=False) as counter:
        artifact.build_network()(torch.zeros(1, *window_shape(artifact.spectrogram, artifact.windows)))
    peak = matmul_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        songs = make_songs(Path(tmp), args.distinct)
        analyzer = SongAnalyzer(artifact)
        windows = len(analyzer.prepare(songs[0]).windows)
        emit("songs", "seconds_decode_and_features_per_4min_song", best_seconds(lambda: analyzer.prepare(songs[0]), args.repeats),
             "s", song_seconds=SONG_SECONDS, format="mp3", windows=windows)
        # Why 0.5 s is out of reach in fp32: the network alone, at the full matrix-product rate.
        emit("songs", "network_seconds_at_matmul_rate_fp32", windows * counter.get_total_flops() / (peak * 1e9), "s",
             windows=windows, matmul_gflops=round(peak, 1))
        favourites = [songs[i % len(songs)] for i in range(args.favorites)]
        candidates = [songs[(i + 1) % len(songs)] for i in range(args.candidates)]
        baseline_song = baseline_recommend = None
        for backend, precision in OPTIONS:
            # network_batch windows per forward pass, as served
            predictor = GenrePredictor(artifact, WindowClassifier(artifact, backend, precision, config.network_batch))
            params = {"backend": backend, "precision": precision, "song_seconds": SONG_SECONDS, "format": "mp3",
                      "windows": windows, "network_batch": config.network_batch}
            song = best_seconds(lambda: predictor.predict(songs[0]), args.repeats, warmup=2)
            emit("songs", "seconds_per_4min_song", song, "s", **params)
            start = time.perf_counter()
            fav = [predictor.predict(path) for path in favourites]
            cand = [predictor.predict(path) for path in candidates]
            recommendation(rank(fav, cand, config.top_k, config.genre_weight), [], MadeBy(model="benchmark"))
            whole = time.perf_counter() - start
            emit("songs", "seconds_per_recommend", whole, "s", favorites=args.favorites, candidates=args.candidates, **params)
            baseline_song, baseline_recommend = baseline_song or song, baseline_recommend or whole
            emit("songs", "song_speedup_vs_eager", baseline_song / song, "x", **params)
            emit("songs", "recommend_speedup_vs_eager", baseline_recommend / whole, "x", **params)


if __name__ == "__main__":
    main()
