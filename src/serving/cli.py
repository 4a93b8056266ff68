"""The command line, on the same packaged model as the service: the old project's workflow
(list files of favourites and candidates), and a music library analysed once.

    python -m serving classify FILE... [--json] [--plots DIR]
    python -m serving recommend --favorites LIST [--candidates LIST] [--top-k K] [--genre G]
                                [--max-per-artist N] [--playlist OUT.m3u8] [--json] [--plots DIR]
    python -m serving index MUSIC_DIR [--library DIR] [--engine {embedded,ray}] [--address ADDRESS]
    python -m serving similar SONG [--top-k K] [--genre G] [--max-per-artist N] [--playlist OUT.m3u8] [--json]

List files hold one audio path per line, relative to the list file's folder; blank lines and
`#` comments are skipped. Unreadable songs are reported and skipped; the rest still get answers.
Without --candidates, `recommend` ranks the whole library; favourites and `similar`'s song that
are in the library are taken from it, others analysed on the fly. `--model TAG` and
`--library DIR` (before the command) override conf/serving.yaml.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
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
from serving.library.index import analysis_settings, embedded, index_library
from serving.library.query import LibraryIndex, as_prediction, write_playlist
from serving.library.store import Library
from serving.plots import genre_bars
from serving.recommend import NoFavouritesError
from serving.responses import ClassifyResponse, FileError, RecommendResponse, classification, recommendation


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


class Songs:
    """Where songs' analyses come from: the library when it holds the file, else the model (loaded
    on first use, so questions the library answers alone start no network)."""

    def __init__(self, config: ServingConfig, model_tag: str, library: Library | None):
        self.config, self.model_tag, self.library = config, model_tag, library

    @functools.cached_property
    def model(self) -> tuple[bentoml.Model, ModelArtifact]:
        try:
            stored = bentoml.models.get(self.model_tag)
        except bentoml.exceptions.NotFound:
            sys.exit(f"no model {self.model_tag!r} in the BentoML store: run `python -m training.package` first")
        return stored, ModelArtifact.load(stored.path)

    @functools.cached_property
    def predictor(self) -> GenrePredictor:
        stored, artifact = self.model
        classifier, how = load_classifier(artifact, self.config.backend, self.config.precision, self.config.network_batch)
        print(f"{stored.tag}: {how}", file=sys.stderr)
        return GenrePredictor(artifact, classifier)

    @functools.cached_property
    def labels(self) -> list[str]:
        labels = self.library.meta("labels") if self.library else None
        return labels or self.model[1].labels

    def predict_all(self, paths: list[Path], what: str) -> tuple[list[SongPrediction], list[FileError]]:
        """Every file's prediction (from the library where it holds the file); (predictions, errors)."""
        songs, errors = [], []
        for path in tqdm(paths, desc=what, unit="song", disable=len(paths) < 3, file=sys.stderr):
            stored = self.library.song_at(path.resolve()) if self.library else None
            if stored is not None:
                songs.append(as_prediction(stored, self.labels))
                continue
            try:
                songs.append(self.predictor.predict(path, max_seconds=self.config.max_duration_seconds))
            except AudioDecodeError as exc:
                errors.append(FileError(file=str(path), error=str(exc)))
                print(f"skipping {path}: {exc.reason}", file=sys.stderr)
        return songs, errors


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


def classify(args: argparse.Namespace, songs: Songs) -> int:
    found, errors = songs.predict_all(args.files, "classifying")
    write_plots(found, args.plots)
    if args.json:
        print(ClassifyResponse(songs=[classification(s) for s in found], errors=errors).model_dump_json(indent=2, exclude_none=True))
    elif found:
        Console().print(distribution_table(found, "Genre distribution per song"))
    return 1 if errors and not found else 0


def recommend(args: argparse.Namespace, songs: Songs) -> int:
    favourites, errors = songs.predict_all(read_list(args.favorites), "favourites")
    try:
        if args.candidates is None:
            result = ask_library(args, songs, favourites, errors)
            candidates, files = [], {}
        else:
            paths = read_list(args.candidates)
            candidates, more = songs.predict_all(paths, "candidates")
            result = recommendation(songs.labels, favourites, candidates, errors + more, args.top_k, songs.config.genre_weight)
            where = {path.name: str(path) for path in paths}
            files = {song.name: (where[song.name], song.duration) for song in candidates}
    except NoFavouritesError as exc:
        sys.exit(f"error: {exc}")
    write_plots(favourites + candidates, args.plots)
    return answer(args, songs, result, favourites, "Your favourites", files)


def similar(args: argparse.Namespace, songs: Songs) -> int:
    found, errors = songs.predict_all([args.song], "analysing")
    if not found:
        sys.exit(f"error: {errors[0].error}")
    return answer(args, songs, ask_library(args, songs, found, errors), found, "The song", {})


def answer(args: argparse.Namespace, songs: Songs, result: RecommendResponse, asked: list[SongPrediction], title: str,
           files: dict[str, tuple[str, float]]) -> int:
    """Print the answer (table or JSON); write the playlist. `files`: candidate files by name."""
    if args.playlist:
        entries = []
        for entry in result.recommendations:
            if entry.id is not None:
                song = songs.library.song(entry.id)
                entries.append((song.path, song.duration, song.label()))
            else:
                entries.append((*files[entry.file], entry.file))
        print(f"playlist of {len(entries)} songs: {write_playlist(args.playlist, entries)}", file=sys.stderr)
    if args.json:
        print(result.model_dump_json(indent=2, exclude_none=True))
        return 0
    console = Console()
    console.print(distribution_table(asked, title))
    console.print(f"Favourite genre: [bold]{result.favorite_genre}[/bold]")
    table = Table(title="Recommendations")
    for column in ("#", "song", "genre", "score", "why"):
        table.add_column(column)
    for rank, entry in enumerate(result.recommendations, 1):
        table.add_row(str(rank), entry.file, entry.genre, f"{entry.score:.3f}", entry.reason)
    console.print(table)
    return 0


def ask_library(args: argparse.Namespace, songs: Songs, asked: list[SongPrediction], errors: list[FileError]) -> RecommendResponse:
    """The library's best matches for `asked` (favourites, or `similar`'s song), saying how long
    the library took to load and answer (not counting the process start)."""
    if songs.library is None or songs.library.count() == 0:
        sys.exit("error: the library is empty: run `python -m serving index MUSIC_DIR` first (or give --candidates)")
    started = time.perf_counter()
    index = LibraryIndex(songs.library, songs.labels, songs.config.genre_weight, songs.config.library)
    result = index.recommend(asked, errors, args.top_k, args.genre, args.max_per_artist)
    print(f"answered from the library in {1000 * (time.perf_counter() - started):.1f} ms", file=sys.stderr)
    return result


def index(args: argparse.Namespace, songs: Songs) -> int:
    if not args.music_dir.is_dir():
        sys.exit(f"error: no such folder: {args.music_dir}")
    if args.address and args.engine != "ray":
        sys.exit("error: --address names a Ray cluster: give it with --engine ray")
    stored, artifact = songs.model
    predictor = songs.predictor
    config, settings = songs.config, songs.config.library
    if args.engine == "ray":
        from serving.library.cluster import on_ray  # Ray is an optional extra

        engine = on_ray(artifact, config.backend, predictor.classifier.precision, settings, config.network_batch,
                        args.address)
    else:
        engine = embedded(predictor.analyzer, predictor.classifier, settings)
    songs.library.set_meta(labels=artifact.labels)
    summary = index_library(
        args.music_dir, songs.library, engine, artifact.labels,
        analysis_settings(str(stored.tag), artifact, predictor.classifier, settings.max_windows), config.genre_weight,
        settings,
    )
    for line in summary.lines():
        print(line)
    print(f"library: {songs.library.count()} songs in {songs.library.db_path}")
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
    parser.add_argument("--library", type=Path, default=Path(config.library.path),
                        help=f"library folder (default {config.library.path})")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("classify", help="genre distribution of each file")
    one.add_argument("files", nargs="+", type=Path)
    many = commands.add_parser("recommend", help="rank candidates (default: the library) by your favourites")
    many.add_argument("--favorites", "--favourites", required=True, type=Path, help="list file of songs you like")
    many.add_argument("--candidates", type=Path, help="list file of songs you don't know (default: the library)")
    near = commands.add_parser("similar", help="the library's songs closest to a song")
    near.add_argument("song", type=Path, help="a song of the library, or any audio file")
    build = commands.add_parser("index", help="analyse a music folder into the library (only what changed)")
    build.add_argument("music_dir", type=Path)
    build.add_argument("--engine", choices=("embedded", "ray"), default="embedded",
                       help="embedded: this process (default); ray: a Ray cluster (pip install -e \".[cluster]\")")
    build.add_argument("--address", help="the Ray cluster's address (auto, HOST:PORT or ray://HOST:10001); "
                                         "default: Ray started on this machine's cores")
    for sub in (many, near):
        sub.add_argument("--top-k", type=int, default=config.top_k)
        sub.add_argument("--genre", help="only songs whose top genre is this")
        sub.add_argument("--max-per-artist", type=int, help="at most this many songs of one artist (from tags)")
        sub.add_argument("--playlist", type=Path, help="also write the answer as an M3U8 playlist")
    for sub in (one, many, near):
        sub.add_argument("--json", action="store_true", help="print JSON instead of tables")
        sub.add_argument("--plots", type=Path, help="write a genre bar chart PNG per song into this folder")
    for sub in (one, many, near, build):
        sub.add_argument("--model", default=argparse.SUPPRESS, help="BentoML model tag")
        sub.add_argument("--library", type=Path, default=argparse.SUPPRESS, help="library folder")
    args = parser.parse_args(argv)
    needs_library = args.command == "index" or (args.command in ("recommend", "similar") and getattr(args, "candidates", None) is None)
    library = Library(args.library) if needs_library or (args.library / "library.db").is_file() else None
    songs = Songs(config, args.model, library)
    sys.exit({"classify": classify, "recommend": recommend, "similar": similar, "index": index}[args.command](args, songs))
