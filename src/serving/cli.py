"""The old project's workflow, without a server, on the same packaged model as the service.

    python -m serving classify FILE... [--json] [--model TAG]
    python -m serving recommend --favorites list_example.txt --candidates list_recommendation.txt
                                [--top-k K] [--plots DIR] [--json] [--model TAG]

List files hold one audio path per line, relative to the list file's folder; blank lines and
`#` comments are skipped. Unreadable songs are reported and skipped; the rest still get answers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import bentoml
from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from data.audio import AudioDecodeError
from model.artifact import ModelArtifact
from model.precision import load_classifier
from model.predict import GenrePredictor, SongPrediction
from serving.config import ServingConfig, load_config
from serving.plots import genre_bars
from serving.recommend import NoFavouritesError
from serving.responses import ClassifyResponse, FileError, classification, recommendation


def read_list(path: Path) -> list[Path]:
    """Paths in a list file, resolved against the list file's folder."""
    if not path.is_file():
        sys.exit(f"error: no such list file: {path}")
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            entries.append((path.parent / line).resolve() if not Path(line).is_absolute() else Path(line))
    return entries


def predict_all(predictor: GenrePredictor, paths: list[Path], what: str, max_seconds: float):
    """Predict every file; (predictions, errors), with a progress bar on long lists."""
    songs, errors = [], []
    for path in tqdm(paths, desc=what, unit="song", disable=len(paths) < 3, file=sys.stderr):
        try:
            songs.append(predictor.predict(path, max_seconds=max_seconds))
        except AudioDecodeError as exc:
            errors.append(FileError(file=str(path), error=str(exc)))
            print(f"skipping {path}: {exc.reason}", file=sys.stderr)
    return songs, errors


def load_predictor(tag: str, config: ServingConfig) -> GenrePredictor:
    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        sys.exit(f"no model {tag!r} in the BentoML store: run `python -m training.package` first")
    artifact = ModelArtifact.load(model.path)
    classifier, how = load_classifier(artifact, config.backend, config.precision, config.network_batch)
    print(f"{model.tag}: {how}", file=sys.stderr)
    return GenrePredictor(artifact, classifier)


def distribution_table(songs: list[SongPrediction], title: str) -> Table:
    """Each song's top genre and its three largest shares (--json gives all ten)."""
    table = Table(title=title)
    for column in ("song", "genre", "largest shares", "seconds"):
        table.add_column(column)
    for song in songs:
        top = sorted(zip(song.probabilities, song.labels), reverse=True)[:3]
        shares = ", ".join(f"{label} {p:.0%}" for p, label in top)
        table.add_row(song.name, song.genre, shares, f"{song.duration:.1f}")
    return table


def classify(args: argparse.Namespace, predictor: GenrePredictor, max_seconds: float) -> int:
    songs, errors = predict_all(predictor, args.files, "classifying", max_seconds)
    write_plots(songs, args.plots)
    if args.json:
        print(ClassifyResponse(songs=[classification(s) for s in songs], errors=errors).model_dump_json(indent=2, exclude_none=True))
    elif songs:
        Console().print(distribution_table(songs, "Genre distribution per song"))
    return 1 if errors and not songs else 0


def recommend(args: argparse.Namespace, predictor: GenrePredictor, max_seconds: float, genre_weight: float) -> int:
    favourites, fav_errors = predict_all(predictor, read_list(args.favorites), "favourites", max_seconds)
    candidates, cand_errors = predict_all(predictor, read_list(args.candidates), "candidates", max_seconds)
    write_plots(favourites + candidates, args.plots)
    try:
        result = recommendation(predictor.labels, favourites, candidates, fav_errors + cand_errors, args.top_k, genre_weight)
    except NoFavouritesError as exc:
        sys.exit(f"error: {exc}")
    if args.json:
        print(result.model_dump_json(indent=2, exclude_none=True))
        return 0
    console = Console()
    console.print(distribution_table(favourites, "Your favourites"))
    console.print(f"Favourite genre: [bold]{result.favorite_genre}[/bold]")
    table = Table(title="Recommendations")
    for column in ("#", "song", "genre", "score", "why"):
        table.add_column(column)
    for rank, entry in enumerate(result.recommendations, 1):
        table.add_row(str(rank), entry.file, entry.genre, f"{entry.score:.3f}", entry.reason)
    console.print(table)
    return 0


def write_plots(songs: list[SongPrediction], folder: Path | None) -> None:
    if folder is None:
        return
    for song in songs:
        genre_bars(song, folder / f"{Path(song.name).stem}.png")
    print(f"{len(songs)} genre charts in {folder}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    config = load_config()
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=config.model_tag, help=f"BentoML model tag (default {config.model_tag})")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("classify", help="genre distribution of each file")
    one.add_argument("files", nargs="+", type=Path)
    many = commands.add_parser("recommend", help="rank candidates by your favourites")
    many.add_argument("--favorites", "--favourites", required=True, type=Path, help="list file of songs you like")
    many.add_argument("--candidates", required=True, type=Path, help="list file of songs you don't know")
    many.add_argument("--top-k", type=int, default=config.top_k)
    for sub in (one, many):
        sub.add_argument("--json", action="store_true", help="print JSON instead of tables")
        sub.add_argument("--plots", type=Path, help="write a genre bar chart PNG per song into this folder")
        sub.add_argument("--model", default=argparse.SUPPRESS, help="BentoML model tag")
    args = parser.parse_args(argv)
    predictor = load_predictor(args.model, config)
    if args.command == "classify":
        sys.exit(classify(args, predictor, config.max_duration_seconds))
    sys.exit(recommend(args, predictor, config.max_duration_seconds, config.genre_weight))
