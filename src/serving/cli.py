"""The command line, on the same packaged model as the service: the old project's workflow
(list files of favourites and candidates), and a music library analysed once.

    python -m serving classify FILE... [--json] [--plots DIR]
    python -m serving recommend --favorites LIST [--candidates LIST] [--top-k K] [--genre G]
                                [--max-per-artist N] [--playlist OUT.m3u8] [--json] [--plots DIR]
    python -m serving index [MUSIC_DIR] [--add] [--prune] [--library DIR] [--engine {embedded,ray}] [--address ADDRESS]
    python -m serving similar SONG [--top-k K] [--genre G] [--max-per-artist N] [--playlist OUT.m3u8] [--json]
    python -m serving search [WORD...] [--tag TAG]... [--limit N] [--offset N] [--json]
    python -m serving path FROM TO [--steps N] [--playlist OUT.m3u8] [--json]
    python -m serving mpd [--host HOST] [--port PORT] [--add N] [--follow] [--music-dir DIR]
    python -m serving tag [--write] [--overwrite] [--min-probability P] | tag --undo
    python -m serving index http://HOST:PORT --subsonic-user USER [--path-map SERVER_PREFIX=LOCAL_PREFIX]...
    python -m serving playlist http://HOST:PORT --subsonic-user USER --name NAME [--top-k N] [--dry-run]
                               (--from-starred | --similar SONG_ID | --path FROM_ID TO_ID)

List files hold one audio path per line, relative to the list file's folder; blank lines and
`#` comments are skipped. Unreadable songs are reported and skipped; the rest still get answers.
Without --candidates, `recommend` ranks the whole library; favourites and `similar`'s song that
are in the library are taken from it (no network is loaded for them), others analysed on the
fly. `path`'s FROM and TO are library songs, by file or by id (digits that name no file).
A Subsonic server's password is read from the environment variable SUBSONIC_PASSWORD only.
A library answers only with the model that analysed it, which is also the default model
of every command once a library exists; `--model TAG` and `--library DIR` (before or after the
command) override conf/serving.yaml.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from data.probe import AudioDecodeError
from library.queries import LibraryQueries, ModelMismatch, SongNotFound, UnknownTag, check_model
from library.ranking import NoFavouritesError, Ranking, rank
from library.store import Library, LibraryError
from model.song import SongPrediction, tag_shares
from serving.config import ServingConfig, load_config
from serving.media_server import add_server_arguments, playlist, song_source
from serving.playlists import write_playlist
from serving.responses import (
    ClassifyResponse,
    FileError,
    MadeBy,
    classification,
    library_search,
    recommendation,
    song_path,
)
from serving.songs import SongAnswers

# Commands whose answers come from the library's stored vectors.
ASKS_LIBRARY = ("similar", "recommend", "search", "path", "mpd", "tag", "playlist")


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


class PackagedModel:
    """A model of the BentoML store (the first of `tags` it holds), loaded on first use: BentoML
    and torch are imported only by commands that analyse audio."""

    def __init__(self, tags: list[str], config: ServingConfig):
        self.tags, self.config = tags, config

    @property
    def requested(self) -> str:
        """The model asked for, as named (before the store is read: for a single tag)."""
        return " or ".join(self.tags)

    @functools.cached_property
    def stored(self):
        from serving.models import NoModel, first_stored

        try:
            return first_stored(self.tags)
        except NoModel as exc:
            sys.exit(f"error: {exc}")

    @property
    def tag(self) -> str:
        return str(self.stored.tag)

    @functools.cached_property
    def caveat(self) -> str | None:
        """What a person should know about the model's answers (trained on generated data)."""
        from model.artifact import ModelArtifact

        return ModelArtifact.load(self.stored.path).caveat

    @functools.cached_property
    def predictor(self):
        from model.artifact import ModelArtifact
        from model.precision import load_classifier
        from model.predict import GenrePredictor

        artifact = ModelArtifact.load(self.stored.path)
        classifier, how = load_classifier(artifact, self.config.backend, self.config.precision, self.config.network_batch)
        print(f"{self.tag}: {how}", file=sys.stderr)
        if artifact.caveat:
            print(f"note: {self.tag} was {artifact.caveat}", file=sys.stderr)
        return GenrePredictor(artifact, classifier)

    async def analyse(self, path: Path) -> SongPrediction:
        return self.predictor.predict(path, max_seconds=self.config.max_duration_seconds)


def answer_files(answers: SongAnswers, paths: list[Path], what: str) -> tuple[list[SongPrediction], list[FileError]]:
    """Every file's answer (library first); (answers, errors), each error reported on stderr."""
    bar = tqdm(total=len(paths), desc=what, unit="song", disable=len(paths) < 3, file=sys.stderr)
    analyse = answers.analyse

    async def counted(path: Path) -> SongPrediction:
        try:
            return await analyse(path)
        finally:
            bar.update()

    answers.analyse = counted
    try:
        results = asyncio.run(answers.answer_each(paths))
    finally:
        answers.analyse = analyse
        bar.close()
    found, errors = [], []
    for path, result in zip(paths, results):
        if isinstance(result, AudioDecodeError):
            errors.append(FileError(file=str(path), error=str(result)))
            print(f"skipping {path}: {result.reason}", file=sys.stderr)
        elif isinstance(result, BaseException):
            raise result
        else:
            found.append(result)
    return found, errors


def distribution_table(songs: list[SongPrediction], title: str) -> Table:
    """Each song's top genre and its three largest shares, and its top tags for a model with tags
    (--json gives all of them)."""
    table = Table(title=title)
    tagged, tagger = any(song.tag_labels for song in songs), all(song.tagger for song in songs)
    for column in ("song", *(() if tagger else ("genre", "largest shares")), *(("top tags",) if tagged else ()), "seconds"):
        table.add_column(column)
    for song in songs:
        top = sorted(zip(song.probabilities, song.labels), reverse=True)[:3]
        genres = () if tagger else (song.genre, ", ".join(f"{label} {p:.0%}" for p, label in top))
        table.add_row(song.name, *genres, *((tag_list(song.top_tags()),) if tagged else ()), f"{song.duration:.1f}")
    return table


def tag_list(tags: dict[str, float]) -> str:
    """"mellow 61%, chillout 40%": a song's top tags as a line."""
    return ", ".join(f"{tag} {p:.0%}" for tag, p in tags.items())


class Command:
    """One command's arguments, settings, model and library."""

    def __init__(self, args: argparse.Namespace, config: ServingConfig, model: PackagedModel, library: Library | None):
        self.args, self.config, self.model, self.library = args, config, model, library

    @functools.cached_property
    def answers(self) -> SongAnswers:
        return SongAnswers(self.queries if self.library is not None and self.library.count() else None,
                           self.model.analyse)

    @functools.cached_property
    def queries(self) -> LibraryQueries:
        return LibraryQueries(self.library, self.config.genre_weight, self.config.library, self.model_tag)

    @property
    def model_tag(self) -> str:
        return self.model.requested

    def made_by(self) -> MadeBy:
        """The model that made the answers: the library's (nothing loaded) where it answered."""
        if self.answers.library is not None:
            return MadeBy(model=self.library.model(), caveat=self.library.caveat())
        return MadeBy(model=self.model.tag, caveat=self.model.caveat)

    def say_who(self, console: Console) -> None:
        made_by = self.made_by()
        console.print(f"[dim]answered by {made_by.model}[/dim]", soft_wrap=True)
        if made_by.caveat:
            console.print(f"[yellow]note: {made_by.model} was {made_by.caveat}[/yellow]", soft_wrap=True)

    def classify(self) -> int:
        found, errors = answer_files(self.answers, self.args.files, "classifying")
        self.write_plots(found)
        if self.args.json:
            made_by = self.made_by()
            print(ClassifyResponse(songs=[classification(s, made_by) for s in found], errors=errors, **made_by.model_dump())
                  .model_dump_json(indent=2, exclude_none=True))
        elif found:
            console = Console()
            console.print(distribution_table(found, "Top tags per song" if found[0].tagger else "Genre distribution per song"))
            self.say_who(console)
        return 1 if errors and not found else 0

    def recommend(self) -> int:
        favourites, errors = answer_files(self.answers, read_list(self.args.favorites), "favourites")
        candidates = []
        try:
            if self.args.candidates is None:
                ranking = self.ask_library(favourites)
            else:
                candidates, more = answer_files(self.answers, read_list(self.args.candidates), "candidates")
                errors += more
                ranking = rank(favourites, candidates, self.args.top_k, self.config.genre_weight)
        except NoFavouritesError as exc:
            sys.exit(f"error: {exc}")
        self.write_plots(favourites + candidates)
        return self.answer(ranking, errors, "Your favourites")

    def similar(self) -> int:
        found, errors = answer_files(self.answers, [self.args.song], "analysing")
        if not found:
            sys.exit(f"error: {errors[0].error}")
        self.write_plots(found)
        return self.answer(self.ask_library(found), errors, "The song")

    def ask_library(self, asked: list[SongPrediction]) -> Ranking:
        """The library's best matches for `asked` (favourites, or `similar`'s song), saying how
        long the library took to load and answer (not counting the process start)."""
        if self.answers.library is None:
            sys.exit("error: the library is empty: run `python -m serving index MUSIC_DIR` first (or give --candidates)")
        with answered_from_the_library():
            return self.queries.recommend(asked, self.args.top_k, self.args.genre, self.args.max_per_artist)

    def answer(self, ranking: Ranking, errors: list[FileError], title: str) -> int:
        """Print the answer (table or JSON); write the playlist (each song's own file; library
        songs titled "artist - title" from their tags)."""
        if self.args.playlist:
            self.save_playlist([(match.song.path, match.song.duration,
                                 self.queries.song(match.song.song_id).label() if match.song.song_id is not None
                                 else match.song.name) for match in ranking.matches])
        if self.args.json:
            print(recommendation(ranking, errors, self.made_by()).model_dump_json(indent=2, exclude_none=True))
            return 0
        console = Console()
        console.print(distribution_table(ranking.favourites, title))
        first = ranking.favourites[0]
        if not first.tagger:
            console.print(f"Favourite genre: [bold]{ranking.favourite_genre}[/bold]")
        if first.tag_labels:
            console.print(f"Favourite tags: [bold]{tag_list(tag_shares(first.tag_labels, ranking.tag_profile))}[/bold]")
        table = Table(title="Recommendations")
        for column in ("#", "song", "top tag" if first.tagger else "genre", "score", "why"):
            table.add_column(column)
        for number, match in enumerate(ranking.matches, 1):
            table.add_row(str(number), match.song.name, match.song.genre, f"{match.score:.3f}", match.reason)
        console.print(table)
        self.say_who(console)
        return 0

    def save_playlist(self, entries: list[tuple[str, float, str]]) -> None:
        print(f"playlist of {len(entries)} songs: {write_playlist(self.args.playlist, entries)}", file=sys.stderr)

    def indexed_library(self) -> LibraryQueries:
        """The library's queries, for commands that only the library answers."""
        if self.library is None or not self.library.count():
            sys.exit("error: the library is empty: run `python -m serving index MUSIC_DIR` first")
        return self.queries

    def library_song_id(self, song: str) -> int:
        """A library song as given on the command line: an id (all digits, naming no file), else a file."""
        if song.isdecimal() and not Path(song).exists():
            return int(song)
        found = self.queries.stored(song)
        if found is None:
            sys.exit(f"error: {song} is not a song of the library in {self.library.folder}: index its folder first "
                     "(python -m serving index FOLDER --add), or give the song's library id (python -m serving search)")
        return found.song_id

    def path(self) -> int:
        """A song path from one library song to another, as a table or JSON, and as a playlist."""
        queries = self.indexed_library()
        ends = [self.library_song_id(song) for song in (self.args.start, self.args.end)]
        try:
            with answered_from_the_library():
                steps = queries.walk(*ends, self.args.steps)
        except ValueError as exc:
            sys.exit(f"error: {exc}")
        if self.args.playlist:
            self.save_playlist([(step.song.path, step.song.duration, step.song.label()) for step in steps])
        if self.args.json:
            print(song_path(steps, queries.labels, queries.tag_labels, self.made_by()).model_dump_json(indent=2, exclude_none=True))
            return 0
        table = Table(title=f"A path of {len(steps)} songs")
        for column in ("#", "song", "genre", "score"):
            table.add_column(column)
        for number, step in enumerate(steps, 1):
            table.add_row(str(number), step.song.label(), step.song.genre, f"{step.score:.3f}")
        console = Console()
        console.print(table)
        self.say_who(console)
        return 0

    def mpd(self) -> int:
        """MPD's queue: `--add` library songs like the one playing right after it, and with
        `--follow` again at every change of song, until Ctrl-C."""
        from serving.mpd_queue import MPDError, MPDLink, QueueFollower, follow

        queries = self.indexed_library()
        music_dir = self.args.music_dir
        if music_dir is None:
            roots = self.library.roots()
            if len(roots) != 1:
                sys.exit(f"error: the library has {len(roots)} folders ({', '.join(roots)}): say which one is MPD's "
                         "music_directory with --music-dir")
            music_dir = Path(roots[0])
        link = MPDLink(self.args.host, self.args.port, os.environ.get("MPD_PASSWORD"))
        follower = QueueFollower(queries, music_dir, self.args.add, self.config.mpd.recent,
                                 lambda path: self.model.predictor.predict(path, max_seconds=self.config.max_duration_seconds))
        if self.args.follow:
            print(f"following MPD at {link.address}: {self.args.add} songs like each one playing (Ctrl-C stops)", flush=True)
            # Ctrl-C, and a service manager's stop, end it cleanly even where the shell that
            # started it in the background made it ignore SIGINT.
            for stop in (signal.SIGINT, signal.SIGTERM):
                signal.signal(stop, signal.default_int_handler)
        try:
            follow(link, follower, functools.partial(print, flush=True), once=not self.args.follow)
        except MPDError as exc:
            sys.exit(f"error: {exc}")
        except KeyboardInterrupt:
            print("stopped following MPD", flush=True)
        return 0

    def tag(self) -> int:
        """Each library song's top genre into its file's genre field: a dry run unless --write;
        --undo puts back what the writes replaced."""
        from library.file_genres import plan_genres, undo_genres, write_genres

        self.indexed_library()
        if self.args.undo:
            report_writes(undo_genres(self.library), "put back")
            return 0
        if self.library.tag_labels() == self.library.labels():
            sys.exit(f"error: the library's model ({self.library.model()}) answers tags, not genres: index it with a "
                     "genre model (a head on MSD-musicnn: python -m training experiment=finetune_musicnn)")
        plan = plan_genres(self.library, lambda label: self.config.genre_names.get(label, label),
                           self.args.min_probability, self.args.overwrite)
        if self.args.write:
            report_writes(write_genres(self.library, plan.changes), "wrote")
        else:
            print(f"would write {count(len(plan.changes), 'genre')} (a dry run: --write writes them)")
            for change in plan.changes:
                print(f"  {change.path}: {change.old or '(none)'} -> {change.new}")
        if plan.kept:
            print(f"kept {count(len(plan.kept), 'genre')} the files already had (--overwrite replaces them)")
            for change in plan.kept:
                print(f"  {change.path}: {change.old} (analysed: {change.new})")
        if plan.uncertain:
            print(f"left {count(len(plan.uncertain), 'song')} alone whose top genre is below {self.args.min_probability:.0%}")
        print(f"files already holding their top genre: {plan.unchanged}")
        return 0

    def playlist(self) -> int:
        """A mix of the library's songs saved as a playlist on the Subsonic server it was indexed from."""
        return playlist(self.args, self.indexed_library(), self.library)

    def search(self) -> int:
        """The library's songs by words of their names and by tags, one page."""
        queries = self.indexed_library()
        try:
            total, songs = queries.search(" ".join(self.args.words), self.args.limit, self.args.offset, self.args.tag)
        except UnknownTag as exc:
            sys.exit(f"error: {exc}")
        found = library_search(total, self.args.offset, songs, queries.labels, queries.tag_labels)
        if self.args.json:
            print(found.model_dump_json(indent=2, exclude_none=True))
            return 0
        table = Table(title=f"{total} song{'' if total == 1 else 's'} found"
                            + (f", {self.args.offset + 1}-{self.args.offset + len(songs)} shown" if len(songs) < total else ""))
        tagger = queries.tag_labels == queries.labels
        for column in ("id", "song", "top tag" if tagger else "genre", *(("top tags",) if queries.tag_labels else ())):
            table.add_column(column)
        for song, answer in zip(songs, found.songs):
            table.add_row(str(song.id), song.label(), song.genre, *((tag_list(answer.tags),) if queries.tag_labels else ()))
        Console().print(table)
        return 0

    def index(self) -> int:
        """Analyse the library's folders, or a Subsonic server's songs: only what changed."""
        from library.indexer import IndexRefused, analysis_settings, engine, index_library, windows_per_song
        from library.subsonic import SubsonicError

        try:
            with song_source(self.library, self.args, self.config) as source:  # listed before the network loads
                predictor = self.model.predictor
                settings = windows_per_song(self.config.library, predictor.artifact)
                analyse = engine(self.args.engine, predictor, settings, self.config.backend, self.config.network_batch,
                                 self.args.address, source.read)
                summary = index_library(
                    source, self.library, analyse, predictor.labels, predictor.artifact.tags,
                    analysis_settings(self.model.tag, predictor, settings.max_windows), self.config.genre_weight, settings,
                )
        except (ValueError, IndexRefused, SubsonicError) as exc:
            sys.exit(f"error: {exc}")
        for line in [*summary.lines(), *source.report()]:
            print(line)
        where = self.library.server()["url"] if self.library.server() else ", ".join(self.library.roots())
        print(f"library: {self.library.count()} songs in {self.library.db_path}, from {where}")
        return 0

    def write_plots(self, songs: list[SongPrediction]) -> None:
        if self.args.plots is None:
            return
        from serving.plots import genre_bars  # matplotlib, only when asked

        for song in songs:
            genre_bars(song, self.args.plots / f"{Path(song.name).stem}.png")
        print(f"{len(songs)} genre charts in {self.args.plots}", file=sys.stderr)


def count(n: int, thing: str) -> str:
    """"1 genre", "3 genres"."""
    return f"{n} {thing}{'' if n == 1 else 's'}"


def report_writes(writes, done: str) -> None:
    """What a write or an undo did: the files, then the ones that failed and why."""
    print(f"{done} {count(len(writes.written), 'genre')}")
    for change in writes.written:
        print(f"  {change.path}: {change.old or '(none)'} -> {change.new or '(none)'}")
    if writes.failed:
        print(f"{count(len(writes.failed), 'file')} could not be written:")
        for path, reason in writes.failed:
            print(f"  {path}: {reason}")


@contextlib.contextmanager
def answered_from_the_library() -> Iterator[None]:
    """Says on stderr how long the library took to load and answer (not counting the process start)."""
    started = time.perf_counter()
    yield
    print(f"answered from the library in {1000 * (time.perf_counter() - started):.1f} ms", file=sys.stderr)


def parser(config: ServingConfig) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__.split("\n\n")[0])
    model_help = ("BentoML model tag (default: the model that analysed the library, else the first of "
                  f"{', '.join(config.model_tags)} in the store)")
    parser.add_argument("--model", help=model_help)
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
    build = commands.add_parser("index", help="analyse the library's music folders (only what changed)")
    build.add_argument("music_dir", nargs="?", metavar="MUSIC_DIR|URL",
                       help="the library's folder (the first time: the folder to index), or a Subsonic server's "
                            "address (http://HOST:PORT, https://...); default: all the library's folders, or its server")
    add_server_arguments(build, required=False)
    build.add_argument("--path-map", action="append", default=[], metavar="SERVER_PREFIX=LOCAL_PREFIX",
                       help="a server's songs whose path starts with SERVER_PREFIX lie under LOCAL_PREFIX here (read from "
                            "there, not downloaded); =LOCAL_PREFIX for paths relative to the server's music folder")
    build.add_argument("--add", action="store_true", help="index MUSIC_DIR as another folder of the library")
    build.add_argument("--prune", action="store_true",
                       help="confirm that the songs of a missing or emptied folder are gone (else they are kept)")
    build.add_argument("--engine", choices=("embedded", "ray"), default="embedded",
                       help="embedded: this process (default); ray: a Ray cluster (pip install -e \".[cluster]\")")
    build.add_argument("--address", help="the Ray cluster's address (auto, HOST:PORT or ray://HOST:10001); "
                                         "default: Ray started on this machine's cores")
    find = commands.add_parser("search", help="the library's songs by words of their names and by tags")
    find.add_argument("words", nargs="*", help="words of the title, artist, album or file name (any order)")
    find.add_argument("--tag", action="append", default=[],
                      help="only songs showing this tag among their top tags (a model with tags; repeat for more)")
    find.add_argument("--limit", type=int, default=config.library.search_results, help="songs listed")
    find.add_argument("--offset", type=int, default=0, help="songs skipped (the next page)")
    walk = commands.add_parser("path", help="songs that walk from one library song to another")
    for end, name, where in (("start", "FROM", "first"), ("end", "TO", "last")):
        walk.add_argument(end, metavar=name, help=f"the {where} song: a library song's file, or its id (digits that name no file)")
    walk.add_argument("--steps", type=int, default=config.top_k, help="songs in the path, both ends included")
    walk.add_argument("--playlist", type=Path, help="also write the path as an M3U8 playlist")
    queue = commands.add_parser("mpd", help="queue songs like the one MPD is playing after it (password: MPD_PASSWORD)")
    queue.add_argument("--host", default=config.mpd.host, help=f"MPD's host (default {config.mpd.host})")
    queue.add_argument("--port", type=int, default=config.mpd.port, help=f"MPD's port (default {config.mpd.port})")
    queue.add_argument("--add", type=int, default=config.top_k, help="songs queued after the one playing")
    queue.add_argument("--follow", action="store_true", help="again at every change of song, until Ctrl-C")
    queue.add_argument("--music-dir", type=Path,
                       help="where MPD's music_directory is on this machine (default: the library's folder)")
    label = commands.add_parser("tag", help="write each library song's top genre into its file (a dry run unless --write)")
    label.add_argument("--write", action="store_true", help="write the genres (default: print what would change)")
    label.add_argument("--overwrite", action="store_true", help="also replace genres set by hand")
    label.add_argument("--min-probability", type=float, default=0.0,
                       help="leave songs whose top genre is less likely than this alone")
    label.add_argument("--undo", action="store_true", help="put back every genre the writes replaced")
    mix = commands.add_parser("playlist", help="a mix from a server's library, saved as a playlist on the server")
    mix.add_argument("server", metavar="URL", help="the Subsonic server the library was indexed from (http://HOST:PORT)")
    add_server_arguments(mix, required=True)
    mix.add_argument("--name", required=True, help="the playlist's name (the user's playlist of that name is replaced)")
    mix.add_argument("--top-k", type=int, default=config.top_k, help="songs in the playlist (a path: both ends included)")
    which = mix.add_mutually_exclusive_group(required=True)
    which.add_argument("--from-starred", action="store_true", help="the best matches of the user's starred songs")
    which.add_argument("--similar", metavar="SONG_ID", help="the songs closest to this one (the server's id)")
    which.add_argument("--path", nargs=2, metavar=("FROM_ID", "TO_ID"), help="a song path between two songs (server ids)")
    mix.add_argument("--dry-run", action="store_true", help="print the songs; write nothing to the server")
    for sub in (many, near):
        sub.add_argument("--top-k", type=int, default=config.top_k)
        sub.add_argument("--genre", help="only songs whose top genre is this")
        sub.add_argument("--max-per-artist", type=int, help="at most this many songs of one artist (from tags)")
        sub.add_argument("--playlist", type=Path, help="also write the answer as an M3U8 playlist")
    for sub in (one, many, near, find, walk):
        sub.add_argument("--json", action="store_true", help="print JSON instead of tables")
    for sub in (one, many, near):
        sub.add_argument("--plots", type=Path, help="write a genre bar chart PNG per song into this folder")
    for sub in (one, many, near, build, find, walk, queue, label, mix):
        sub.add_argument("--model", default=argparse.SUPPRESS, help=model_help)
        sub.add_argument("--library", type=Path, default=argparse.SUPPRESS, help="library folder")
    return parser


def open_library(args: argparse.Namespace) -> Library | None:
    """The library, where the command needs one or the folder holds one; a file this version
    cannot read stops the command with the line that says what to run."""
    needed = args.command == "index" or (args.command in ASKS_LIBRARY and getattr(args, "candidates", None) is None)
    if not (needed or (args.library / "library.db").is_file()):
        return None
    try:
        return Library(args.library)
    except LibraryError as exc:
        sys.exit(f"error: {exc}")


def choose_model(args: argparse.Namespace, config: ServingConfig, library: Library | None) -> tuple[PackagedModel, Library | None]:
    """The model to answer with, and the library if it may answer: `--model`, else the library's
    own model, else conf/serving.yaml's. A library answers only for the model that analysed it:
    asked with another, library questions stop with the command that re-analyses; classify and
    file candidates are answered by that model without the library; `index` re-analyses."""
    analysed_with = library.model() if library is not None else None
    asked = [args.model] if args.model else [analysed_with] if analysed_with else config.model_tags
    model = PackagedModel(asked, config)
    if analysed_with is None or model.requested == analysed_with:
        return model, library
    model.tags = [model.tag]  # another name, or "latest": resolved through the BentoML store
    if model.requested == analysed_with or args.command == "index":
        return model, library
    asks_library = args.command in ASKS_LIBRARY and getattr(args, "candidates", None) is None
    if asks_library:
        try:
            check_model(library, model.requested)
        except ModelMismatch as exc:
            sys.exit(f"error: {exc}")
    return model, None


def main(argv: list[str] | None = None) -> None:
    config = load_config()
    args = parser(config).parse_args(argv)
    model, library = choose_model(args, config, open_library(args))
    command = Command(args, config, model, library)
    try:
        sys.exit(getattr(command, args.command)())
    except (ModelMismatch, SongNotFound) as exc:
        sys.exit(f"error: {exc}")
