"""How much `similar` means: same-genre precision@5 of each model's library on real music.

    python benchmarks/similarity.py [--data DIR] [--models genre-crnn-keras,musicnn-msd] [--weights 0,0.3,0.5,0.7,1]

Each model analyses every clip of a folder-per-genre data set (default ../shared/gtzan_mini: 50
GTZAN clips, 5 per genre, that neither model was trained on... except that the old Keras model's
authors fine-tuned on GTZAN) into a library of its own, exactly as `python -m serving index`
does; then every clip asks the library for its most similar songs (`similar`, the clip itself
left out), and a hit is a song of the clip's own genre folder. With 5 clips per genre a clip has
only 4 same-genre neighbours, so precision@5 is at most 0.8 there; precision@4 (at most 1) is
printed too. Chance is 4/49 = 0.08. The score
weights the label match (genres, or tags for a model with tags) against the sound match
(embedding): each `--weights` value is measured, the setting of conf/serving.yaml marked.

The models come from a BentoML store of their own in a temporary folder: the old Keras model
imported from ../shared/seed, MSD-musicnn downloaded from PyPI (scripts/download_musicnn.sh,
cached in models/). Prints one JSON line per model and weight.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, SHARED, emit

SIMILAR = (4, 5)  # precision at these k


def import_models(names: list[str], store: Path) -> None:
    """The named models into the BentoML store at `store`, each by its own import command."""
    env = {**os.environ, "BENTOML_HOME": str(store), "PYTHONPATH": str(REPO / "src")}
    commands = {
        "genre-crnn-keras": [["-m", "training.import_keras", str(SHARED / "seed" / "crnn_gtzan_jsalbert.h5")]],
        "musicnn-msd": [["bash", str(REPO / "scripts" / "download_musicnn.sh"), str(REPO / "models" / "musicnn")],
                        ["-m", "training.import_musicnn", str(REPO / "models" / "musicnn")]],
    }
    for name in names:
        for command in commands[name]:
            argv = command if command[0] == "bash" else [sys.executable, *command]
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"importing {name} failed:\n{done.stderr[-3000:]}")


def precision_at(queries, genres: dict[str, str], k: int) -> float:
    """Mean share of each song's `k` most similar songs that share its genre folder."""
    hits = []
    for song in queries.songs.values():
        ranking = queries.recommend([queries.prediction(song)], k)
        hits += [genres[m.song.path] == genres[song.path] for m in ranking.matches]
    return sum(hits) / len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "gtzan_mini")
    parser.add_argument("--models", default="genre-crnn-keras,musicnn-msd")
    parser.add_argument("--weights", default="0,0.3,0.5,0.7,1", help="genre_weight values to measure")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data set at {args.data} (the shared folder beside the project holds gtzan_mini)")
    names = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        import_models(names, work / "bentoml")
        os.environ["BENTOML_HOME"] = str(work / "bentoml")  # before BentoML is imported
        import bentoml

        from data.folders import read_folder
        from library.indexer import analysis_settings, embedded, index_library, windows_per_song
        from library.queries import LibraryQueries
        from library.store import Library
        from model.artifact import ModelArtifact
        from model.precision import load_classifier
        from model.predict import GenrePredictor
        from serving.config import load_config

        config = load_config()
        clips = read_folder(args.data).clips
        genres = {str(Path(c.path).resolve()): c.genre for c in clips}
        for name in names:
            model = bentoml.models.get(f"{name}:latest")
            artifact = ModelArtifact.load(model.path)
            classifier, _ = load_classifier(artifact, config.backend, "fp32", config.network_batch)
            predictor = GenrePredictor(artifact, classifier)
            library = Library(work / f"library-{name}")
            settings = windows_per_song(config.library, artifact)  # MSD-musicnn: 8 of a clip's 10 patches
            index_library(args.data, library, embedded(predictor, settings), artifact.labels, artifact.tags,
                          analysis_settings(str(model.tag), predictor, settings.max_windows),
                          config.genre_weight, settings, progress=False)
            for weight in (float(w) for w in args.weights.split(",")):
                queries = LibraryQueries(library, weight, config.library)
                for k in SIMILAR:
                    emit("similarity", f"same_genre_precision_at_{k}", precision_at(queries, genres, k), "share",
                         model=name, genre_weight=weight, configured=weight == config.genre_weight,
                         songs=len(queries.songs), tags=len(artifact.tags), max_windows=settings.max_windows,
                         data=args.data.name)


if __name__ == "__main__":
    main()
