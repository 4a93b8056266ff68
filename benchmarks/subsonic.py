"""Indexing a Subsonic server's songs beside the folder indexer, on the same songs in the same
run: songs/h of a whole index run from an empty library, three ways.

    python benchmarks/subsonic.py [--music DIR] [--repeats N]

- folder: `index MUSIC_DIR` (scan, hash, analyse the files where they lie);
- path: `index URL --path-map =MUSIC_DIR` (the server lists the songs, each read from its own file here);
- download: `index URL` (the server lists the songs, each downloaded into a temporary file).

The server is a real supysonic (the `dev` extra) under waitress on 127.0.0.1, serving a copy of
the songs (default: ../shared/audio and ../shared/gtzan_mini, 53 real recordings, GTZAN's one
.au clip left out as supysonic does not list it; `--music` any folder); the model is the old Keras CRNN (real trained weights, ../shared/seed), run as
conf/serving.yaml says. The three modes run in turns, `--repeats` times, so drift on a shared
machine hits them alike; each figure is the best run, with the median beside it. On loopback a
download costs little: over a network, add the songs' bytes over its bandwidth.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import SHARED, emit

from library.indexer import Folders, analysis_settings, embedded, index_library, roots_to_index, windows_per_song
from library.server_songs import PathMap, ServerSongs, server_to_index
from library.store import Library
from library.subsonic import Subsonic
from model.precision import load_classifier
from model.predict import GenrePredictor
from serving.config import load_config
from supysonic_server import supysonic_server
from training.import_keras import keras_artifact

USER, PASSWORD = "bench", "bench-password"
MODES = ("folder", "path", "download")
SERVED = (".wav", ".ogg", ".mp3", ".flac")  # what supysonic lists (not GTZAN's .au): the same songs every way


def copy_songs(sources: list[Path], into: Path) -> int:
    """Every song under `sources` that supysonic serves, copied into `into` (it follows no links); how many."""
    count = 0
    for source in sources:
        for path in sorted(source.rglob("*")):
            if path.suffix.lower() in SERVED:
                target = into / path.relative_to(source.parent)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--music", type=Path, action="append",
                        help="a folder of songs (repeat for more; default ../shared/audio and ../shared/gtzan_mini)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config()
    artifact = keras_artifact(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")
    classifier, how = load_classifier(artifact, config.backend, "fp32", config.network_batch)
    predictor = GenrePredictor(artifact, classifier)
    settings = windows_per_song(config.library, artifact)
    analysis = analysis_settings("genre-crnn-keras", predictor, settings.max_windows)
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp, "music")
        songs = copy_songs(args.music or [SHARED / "audio", SHARED / "gtzan_mini"], music)
        megabytes = sum(p.stat().st_size for p in music.rglob("*") if p.is_file()) / 2**20
        with supysonic_server(Path(tmp, "supysonic"), music, USER, PASSWORD) as server, \
                Subsonic(server.url, USER, PASSWORD) as client:
            seconds: dict[str, list[float]] = {mode: [] for mode in MODES}
            for repeat in range(args.repeats):
                for mode in MODES:
                    library = Library(Path(tmp, f"{mode}-{repeat}"))
                    started = time.perf_counter()
                    if mode == "folder":
                        source = Folders(roots_to_index(library, music, False, False)[1])
                    else:
                        server_to_index(library, client)
                        source = ServerSongs(client, [PathMap("", str(music))] if mode == "path" else [],
                                             round(config.max_upload_mb * 2**20))
                    summary = index_library(source, library, embedded(predictor, settings, source.read), artifact.labels,
                                            artifact.tags, analysis, config.genre_weight, settings, progress=False)
                    seconds[mode].append(time.perf_counter() - started)
                    if summary.analysed != songs:
                        raise SystemExit(f"{mode}: analysed {summary.analysed} of {songs} songs: {summary.lines()}")
                    library.close()
    common = {"songs": songs, "megabytes": round(megabytes, 1), "model": f"genre-crnn-keras ({how})",
              "threads": config.library.threads, "repeats": args.repeats, "load": os.getloadavg()[0],
              "server": "supysonic 0.7.9 (waitress) on 127.0.0.1"}
    for mode in MODES:
        emit("subsonic", f"index_{mode}_songs_per_hour", songs / min(seconds[mode]) * 3600, "song/h",
             median=round(songs / statistics.median(seconds[mode]) * 3600), **common)
    emit("subsonic", "download_vs_folder", min(seconds["folder"]) / min(seconds["download"]), "ratio", **common)


if __name__ == "__main__":
    main()
