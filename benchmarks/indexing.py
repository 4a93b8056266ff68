"""Indexing a music library: songs per hour on this machine's cores, and what analysing fewer
windows per song, or running the network in bf16, costs in agreement with the full analysis.

    python benchmarks/indexing.py [--cache DIR] [--settings fp32:all,bf16:all,bf16:6,...] [--songs N] [--model keras|musicnn|TAG]

Songs: real full-length music from Debian's packages `warzone2100-music` (Opus) and
`hyperrogue-music` (ogg), fetched with `apt-get download` and unpacked with `dpkg -x` into
`--cache` (not committed), plus one of them re-encoded to m4a/AAC by PyAV to exercise the
FFmpeg path. Model: the old Keras CRNN (real trained weights, ../shared/seed), or MSD-musicnn
(`--model musicnn`, models/musicnn as scripts/download_musicnn.sh leaves it), or any model of
the BentoML store by its tag (a genre head on MSD-musicnn: `--model genre-crnn:latest` after
`experiment=finetune_musicnn` and packaging), fused.

Figures: songs/h of `python -m serving index`'s path (decode and features on the library's
threads, only the windows' audio decoded; the network on the main thread; SQLite writes) for
each precision and window count, and the same rate in four-minute songs (every window: the audio
minutes analysed per hour / 4; N windows: the songs/h measured, as N spread windows of a
four-minute song cost what they cost in these longer songs); the share of songs whose top genre equals the full analysis's (fp32,
every window), over all songs and over those whose full analysis leads its second genre by 0.1
or more, and, against that same analysis, the song embedding's cosine (mean and worst)
and the top-5 tags' overlap (a model with tags); the per-song `classify` path, one file after
another, in the same run; where the
time goes (decode, features, network) per song; and the floor the measured matrix-product rate
sets on the network.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import av
import bentoml
import numpy as np
import soundfile as sf
import torch
from common import REPO, SHARED, emit
from torch.utils.flop_counter import FlopCounterMode

from data.audio import load_audio, open_song
from data.windows import read_windows
from model.artifact import ModelArtifact
from model.predict import GenrePredictor, WindowClassifier
from serving.config import load_config
from library.indexer import analysis_settings, embedded, index_library
from library.scan import scan
from library.store import Library, Song
from training.import_keras import keras_artifact
from training.import_musicnn import musicnn_artifact

PACKAGES = ("warzone2100-music", "hyperrogue-music")
CLEAR_LEAD = 0.1  # a top label "clear" when its probability leads the second's by this much


def fetch_songs(cache: Path) -> list[Path]:
    """The packages' music files, downloaded and unpacked once into `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        if not any(cache.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        unpacked = cache / package
        if not unpacked.is_dir():
            deb = next(cache.glob(f"{package}_*.deb"))
            subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], check=True)
    songs = [p for package in PACKAGES for p in sorted((cache / package).rglob("*"))
             if p.suffix in {".opus", ".ogg"} and sf.info(str(p)).duration > 60]
    m4a = cache / "m4a" / f"{songs[0].stem}.m4a"
    if not m4a.is_file():
        to_m4a(songs[0], m4a)
    return songs + [m4a]


def to_m4a(source: Path, target: Path) -> None:
    """Re-encode with PyAV's AAC encoder (what stores sell), stereo at the source's rate."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data, rate = sf.read(str(source), dtype="float32", always_2d=True)
    with av.open(str(target), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "stereo" if data.shape[1] > 1 else "mono"
        for start in range(0, len(data), rate * 10):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[start : start + rate * 10, :2].T),
                                               format="fltp", layout=stream.layout.name)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def agreement(full: dict[str, Song], analysed: dict[str, Song], top: str) -> dict[str, float]:
    """How far an analysis is from the full one, song by song: the top label (genre, or a
    tagger's top tag: `top`), the embedding's cosine (mean and worst), the top-5 tags' overlap."""
    names = sorted(full)
    cosines = [float(full[n].embedding @ analysed[n].embedding
                     / np.linalg.norm(full[n].embedding) / np.linalg.norm(analysed[n].embedding)) for n in names]
    same = np.array([full[n].genre == analysed[n].genre for n in names])
    # Where the full analysis's first label leads its second by CLEAR_LEAD or more: songs a listener
    # would call that genre, rather than near-ties any analysis may order either way.
    clear = np.array([np.diff(np.sort(full[n].probabilities)[-2:])[0] >= CLEAR_LEAD for n in names])
    figures = {f"{top}_agreement_with_full": float(same.mean()),
               f"{top}_agreement_with_full_where_clear": float(same[clear].mean()) if clear.any() else float("nan"),
               "songs_with_a_clear_top": float(clear.mean()),
               "embedding_cosine_to_full_mean": float(np.mean(cosines)),
               "embedding_cosine_to_full_worst": float(np.min(cosines))}
    if len(full[names[0]].tags):
        top5 = lambda song: set(np.argsort(-song.tags)[:5])  # noqa: E731
        figures["top5_tags_overlap_with_full"] = float(np.mean([len(top5(full[n]) & top5(analysed[n])) / 5 for n in names]))
    return figures


def cpu_seconds() -> float:
    """User and system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "genre-recsys-benchmark-music")
    parser.add_argument("--settings", default="fp32:all,bf16:all,bf16:8,bf16:4,bf16:2",
                        help="precision:windows per song to compare (all: every window); the first is the "
                             "reference; empty: only where the time goes")
    parser.add_argument("--songs", type=int, default=0, help="use only the first N songs (0: all)")
    parser.add_argument("--model", default="keras", help="keras, musicnn, or a tag in the BentoML store")
    args = parser.parse_args()
    songs = fetch_songs(args.cache)[: args.songs or None]
    folder = args.cache / "library-input"
    if folder.exists():
        for link in folder.iterdir():
            link.unlink()
    folder.mkdir(exist_ok=True)
    for song in songs:
        (folder / song.name).symlink_to(song)
    minutes = sum(load_audio(s, 8000).numel() / 8000 for s in songs) / 60
    config = load_config()
    if args.model == "musicnn":
        subprocess.run(["bash", str(REPO / "scripts" / "download_musicnn.sh"), str(REPO / "models" / "musicnn")], check=True)
        artifact = musicnn_artifact(REPO / "models" / "musicnn")
    elif args.model == "keras":
        artifact = keras_artifact(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    else:
        artifact = ModelArtifact.load(bentoml.models.get(args.model).path)
    classifiers = {p: WindowClassifier(artifact, "fused", p, config.network_batch) for p in ("fp32", "bf16")}
    predictor = GenrePredictor(artifact, classifiers["fp32"])
    common = {"songs": len(songs), "audio_minutes": round(minutes, 1), "mean_song_minutes": round(minutes / len(songs), 2),
              "model": f"{args.model} (fused)", "threads": config.library.threads, "formats": sorted({s.suffix for s in songs})}

    settings = [s for s in args.settings.split(",") if s]  # none: only where the time goes
    if settings:
        started, cpu = time.perf_counter(), cpu_seconds()
        per_song = [predictor.predict(s).genre for s in songs]
        rate = len(songs) / (time.perf_counter() - started) * 3600
        emit("library", "classify_path_songs_per_hour", rate, "song/h", precision="fp32", load=os.getloadavg()[0], **common)
        emit("library", "classify_path_cpu_seconds_per_song", (cpu_seconds() - cpu) / len(songs), "s", precision="fp32", **common)

    full: dict[str, Song] | None = None
    for setting in settings:
        precision, count = setting.split(":")
        most = None if count == "all" else int(count)
        with tempfile.TemporaryDirectory() as tmp:
            library = Library(tmp)
            analysing = GenrePredictor(artifact, classifiers[precision])
            cpu = cpu_seconds()
            settings = config.library.model_copy(update={"max_windows": most})
            summary = index_library(folder, library, embedded(analysing, settings), artifact.labels, artifact.tags,
                                    analysis_settings(args.model, analysing, most), config.genre_weight,
                                    settings, progress=False)
            cpu = cpu_seconds() - cpu
            analysed = {Path(s.path).name: s for s in library.songs()}
            analysed_minutes = sum(s.duration for s in library.songs()) / 60
            library.close()
        songs_per_hour = summary.analysed / summary.seconds * 3600
        emit("library", "index_songs_per_hour", songs_per_hour, "song/h", precision=precision, max_windows=count,
             failed=len(summary.failed), vs_classify_path=round(songs_per_hour / rate, 2), load=os.getloadavg()[0], **common)
        # CPU time is what other processes on a shared machine cannot inflate: the rate two idle
        # cores would reach if the indexer kept both busy.
        emit("library", "index_cpu_seconds_per_song", cpu / summary.analysed, "s", precision=precision, max_windows=count, **common)
        emit("library", "index_songs_per_hour_from_cpu_time", 3600 * (os.cpu_count() or 1) * summary.analysed / cpu, "song/h",
             precision=precision, max_windows=count, **common)
        four_minute = analysed_minutes / 4 / summary.seconds * 3600 if most is None else songs_per_hour
        emit("library", "index_four_minute_songs_per_hour", four_minute, "song/h", precision=precision,
             max_windows=count, **common)
        if full is None:
            full = analysed
            same = np.mean([analysed[s.name].genre == g for s, g in zip(songs, per_song)])
            emit("library", "index_equals_classify_path", float(same), "fraction", **common)
        else:
            for figure, value in agreement(full, analysed, "top_tag" if artifact.tags == artifact.labels else "top_genre").items():
                emit("library", figure, value, "fraction", precision=precision, max_windows=count, **common)

    # Where the time goes, in CPU seconds (what other jobs on a shared machine cannot inflate).
    decode = features = network = windows = 0.0
    logmel = predictor.analyzer.logmel
    for song in songs:
        start = cpu_seconds()
        with open_song(song) as audio:
            stacked, _, _ = read_windows(audio, artifact.windows, logmel)
        prepared = cpu_seconds() - start
        noise = torch.randn(len(stacked), artifact.windows.samples(artifact.spectrogram)) * 0.1
        start = cpu_seconds()
        logmel(noise)  # the features alone: their cost does not depend on the sound
        features += cpu_seconds() - start
        decode += prepared - (cpu_seconds() - start)
        start = cpu_seconds()
        classifiers["bf16"].forward(stacked.numpy())
        network += cpu_seconds() - start
        windows += len(stacked)
    for stage, seconds in (("decode", decode), ("features", features), ("network_bf16", network)):
        emit("library", f"{stage}_cpu_seconds_per_song", seconds / len(songs), "s", **common)
    emit("library", "windows_per_song", windows / len(songs), "windows", **common)

    window = torch.from_numpy(stacked[:1].numpy())
    with FlopCounterMode(display=False) as counter:
        classifiers["fp32"].network(window)
    flops = counter.get_total_flops()
    size = 2048
    a, b = torch.randn(size, size), torch.randn(size, size)
    start = cpu_seconds()
    for _ in range(10):
        a @ b
    per_cpu_second = 10 * 2 * size**3 / (cpu_seconds() - start)  # fp32 matrix products per CPU second
    emit("library", "network_gflop_per_window", flops / 1e9, "GFLOP", **common)
    emit("library", "matmul_gflop_per_cpu_second_fp32", per_cpu_second / 1e9, "GFLOP/s", **common)
    emit("library", "network_floor_songs_per_hour_fp32", 3600 * (os.cpu_count() or 1) * per_cpu_second / (flops * windows / len(songs)),
         "song/h", note="every core doing nothing but the network's fp32 products at the matrix-product rate", **common)
    emit("library", "files_scanned", len(scan([str(folder)]).files), "files", **common)


if __name__ == "__main__":
    main()
