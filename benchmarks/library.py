"""Indexing a music library: songs per hour on this machine's cores, and what analysing fewer
windows per song costs in agreement with the full analysis.

    python benchmarks/library.py [--cache DIR] [--windows all,3,2,1] [--songs N]

Songs: real full-length music from Debian's packages `warzone2100-music` (Opus) and
`hyperrogue-music` (ogg), fetched with `apt-get download` and unpacked with `dpkg -x` into
`--cache` (not committed), plus one of them re-encoded to m4a/AAC by PyAV to exercise the
FFmpeg path. Model: the old Keras CRNN (real trained weights, ../shared/seed), fused fp32.

Figures: songs/h of `python -m serving index`'s path (decode and features on the library's
threads, the network on the main thread, SQLite writes) for each window count; the share of
songs whose top genre equals the full analysis's; the per-song `classify` path, one file after
another, in the same run; and where the time goes (decode, features, network) per song.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from common import SHARED, emit

from data.audio import load_audio
from data.windows import song_windows
from model.precision import load_classifier
from model.predict import GenrePredictor
from serving.config import load_config
from serving.library.index import analysis_settings, index_library, scan
from serving.library.store import Library
from training.import_keras import keras_artifact

PACKAGES = ("warzone2100-music", "hyperrogue-music")


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
    songs = [p for p in sorted(cache.rglob("*")) if p.suffix in {".opus", ".ogg"} and sf.info(str(p)).duration > 60]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "genre-recsys-benchmark-music")
    parser.add_argument("--windows", default="all,3,2,1", help="window counts per song to compare (all: every window)")
    parser.add_argument("--songs", type=int, default=0, help="use only the first N songs (0: all)")
    args = parser.parse_args()
    songs = fetch_songs(args.cache)[: args.songs or None]
    folder = args.cache / "library-input"
    if folder.exists():
        for link in folder.iterdir():
            link.unlink()
    folder.mkdir(exist_ok=True)
    for song in songs:
        (folder / song.name).symlink_to(song)
    minutes = sum(sf.info(str(s)).duration if s.suffix != ".m4a" else load_audio(s, 8000).numel() / 8000 for s in songs) / 60
    config = load_config()
    artifact = keras_artifact(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    classifier, how = load_classifier(artifact, "fused", "fp32", config.network_batch)
    predictor = GenrePredictor(artifact, classifier)
    common = {"songs": len(songs), "audio_minutes": round(minutes, 1), "model": "keras (fused fp32)",
              "threads": config.library.threads, "formats": sorted({s.suffix for s in songs})}

    started = time.perf_counter()
    per_song = [predictor.predict(s).genre for s in songs]
    emit("library", "classify_path_songs_per_hour", len(songs) / (time.perf_counter() - started) * 3600, "song/h", **common)

    full: dict[str, str] | None = None
    for setting in args.windows.split(","):
        most = None if setting == "all" else int(setting)
        with tempfile.TemporaryDirectory() as tmp:
            library = Library(tmp)
            summary = index_library(folder, library, predictor.analyzer, classifier,
                                    analysis_settings("keras", artifact, most), config.genre_weight,
                                    config.library.threads, config.library.batch_songs, most, progress=False)
            genres = {Path(s.path).name: s.genre for s in library.songs()}
            library.close()
        emit("library", "index_songs_per_hour", summary.analysed / summary.seconds * 3600, "song/h",
             max_windows=setting, failed=len(summary.failed), **common)
        if full is None:
            full = genres
            same = np.mean([genres[s.name] == g for s, g in zip(songs, per_song)])
            emit("library", "index_equals_classify_path", float(same), "fraction", **common)
        else:
            agree = np.mean([genres[name] == full[name] for name in full])
            emit("library", "top_genre_agreement_with_full", float(agree), "fraction", max_windows=setting, **common)

    decode = features = network = 0.0
    for song in songs:
        start = time.perf_counter()
        waveform = load_audio(song, artifact.spectrogram.sample_rate)
        decode += time.perf_counter() - start
        start = time.perf_counter()
        windows, _ = song_windows(waveform, artifact.windows, predictor.analyzer.logmel)
        features += time.perf_counter() - start
        start = time.perf_counter()
        classifier.forward(windows.numpy())
        network += time.perf_counter() - start
    for stage, seconds in (("decode", decode), ("features", features), ("network", network)):
        emit("library", f"{stage}_seconds_per_song", seconds / len(songs), "s", **common)
    emit("library", "files_scanned", len(scan(folder)), "files", **common)


if __name__ == "__main__":
    main()
