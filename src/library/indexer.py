"""The indexer (`python -m serving index MUSIC_DIR`, or `index URL` for a media server): analyse
every song of a source once, then only what changed.

A source is where the songs come from: the library's folders (`Folders`) or a Subsonic server
(`library.server_songs`). It plans a run (which songs to leave, analyse, move or remove) and
reads each song to analyse as a file here. For folders, a run compares them with the library
(`library.scan`): files whose size and modification
time are as stored are left alone; the rest are hashed, and a new path whose content matches a
song that disappeared is a move (its analysis kept), a known path with the same content a touch.
What is left is analysed by an engine (`embedded`: decoding and features on worker threads, the
network on the main thread; `library.ray_engine.on_ray`: the same on a Ray cluster) and written by
this process, one transaction per batch of songs, so a killed run resumes where it stopped and
stores no song twice. A file that cannot be used is recorded with its reason and tried again when it changes.
Analysis settings that differ from the library's (another model, other features, another window
count) re-analyse everything.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Protocol

import numpy as np
from tqdm.auto import tqdm

from data.probe import AUDIO_SUFFIXES, AudioDecodeError
from data.file_tags import FileTags, read_file_tags
from data.threads import ordered_map
from library.scan import FileState, Plan, Scan, plan, scan, under
from library.settings import Engine as EngineName
from library.settings import LibraryConfig
from library.store import Library
from model.artifact import ModelArtifact
from model.choices import Backend
from model.predict import GenrePredictor, PreparedSong, SongAnalyzer


@dataclass
class Summary:
    analysed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # path, reason
    failed_before: int = 0
    seconds: float = 0.0
    reanalysed_all: str | None = None
    unreadable: list[str] = field(default_factory=list)  # what could not be read, its songs kept

    def lines(self) -> list[str]:
        rate = self.analysed / self.seconds * 3600 if self.seconds and self.analysed else 0.0
        lines = [f"re-analysing everything: {self.reanalysed_all}"] if self.reanalysed_all else []
        lines.append(f"analysed {self.analysed}, unchanged {self.unchanged}, moved {self.moved}, removed {self.removed}, "
                     f"failed {len(self.failed)}" + (f" (+{self.failed_before} unchanged since they failed)" if self.failed_before else "")
                     + f"; {self.seconds:.1f} s, {rate:,.0f} songs/h")
        lines += [f"failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"could not read {path}: what the library holds there is kept" for path in self.unreadable]
        return lines


@dataclass(frozen=True)
class Analysed:
    """One song's analysis, wherever it ran: what its library row holds beside the file's identity."""
    duration: float
    windows: int
    probabilities: np.ndarray
    embedding: np.ndarray
    file_tags: FileTags
    tags: np.ndarray  # the model's tag probabilities; no columns for a genre-only model
    content_hash: str  # of the file analysed: what recognises exact copies


# What an engine gives back for each file it was handed: its analysis, or why it cannot be used.
Outcome = Analysed | str
ToAnalyse = tuple[FileState, str]  # a file and its content hash ("" where the source hashes it when read)
Engine = Callable[[list[ToAnalyse]], Iterator[tuple[ToAnalyse, Outcome]]]


@dataclass(frozen=True)
class SongFile:
    """A song's audio as a file on this machine, while it is analysed, with what its row keeps."""
    path: str
    content_hash: str
    file_tags: FileTags


# A song to analyse as a file here, for as long as the context lasts; `AudioDecodeError` with the
# reason where it cannot be had (a download that failed).
Read = Callable[[ToAnalyse], ContextManager[SongFile]]


@contextlib.contextmanager
def read_in_place(item: ToAnalyse) -> Iterator[SongFile]:
    """A folder's song: its own file, its tags read from it."""
    file, digest = item
    yield SongFile(file.path, digest, read_file_tags(file.path))


class Source(Protocol):
    """Where an index run's songs come from: what to do with each (`plan`), and each song to
    analyse as a file here (`read`)."""

    unreadable: list[str]  # what could not be listed: the songs the library holds there are kept

    def plan(self, library: Library, threads: int) -> Plan: ...

    def read(self, item: ToAnalyse) -> ContextManager[SongFile]: ...

    def report(self) -> list[str]:
        """What the source has to say after a run (a server: how its songs were read)."""


@dataclass
class Folders:
    """The library's folders, as `roots_to_index` found them."""
    found: Scan

    @property
    def unreadable(self) -> list[str]:
        return self.found.unreadable

    def plan(self, library: Library, threads: int) -> Plan:
        return plan(library, self.found, threads)

    read = staticmethod(read_in_place)

    def report(self) -> list[str]:
        return []


def prepare(analyzer: SongAnalyzer, path: str, max_windows: int | None) -> PreparedSong | str:
    """A song's windows, or the reason its file cannot be used."""
    try:
        return analyzer.prepare(path, max_windows=max_windows)
    except AudioDecodeError as exc:
        return exc.reason


def embedded(predictor: GenrePredictor, settings: LibraryConfig, read: Read = read_in_place) -> Engine:
    """This process: reading (`read`: a source's files, or its downloads), decoding and features
    on `settings.threads` threads, the network on the calling thread, results in the order of
    the files."""

    def prepared(item: ToAnalyse) -> tuple[PreparedSong, SongFile] | str:
        try:
            with read(item) as song_file:
                song = prepare(predictor.analyzer, song_file.path, settings.max_windows)
                return song if isinstance(song, str) else (song, song_file)
        except AudioDecodeError as exc:
            return exc.reason

    def analyse(todo: list[ToAnalyse]) -> Iterator[tuple[ToAnalyse, Outcome]]:
        for item, answer in zip(todo, ordered_map(prepared, todo, settings.threads)):
            if isinstance(answer, str):
                yield item, answer
            else:
                song, song_file = answer
                [(probabilities, embedding, tags)] = predictor.song_answers([song.windows])
                yield item, Analysed(song.duration, len(song.windows), probabilities, embedding,
                                     song_file.file_tags, tags, song_file.content_hash)

    return analyse


def engine(name: EngineName, predictor: GenrePredictor, settings: LibraryConfig, backend: Backend,
           network_batch: int, address: str | None = None, read: Read = read_in_place) -> Engine:
    """The engine by name: "embedded" (this process) or "ray" (a Ray cluster at `address`, or
    started on this machine's cores); the network runs as `predictor`'s does, the songs are read
    by `read` (a source's)."""
    if name == "ray":
        if read is not read_in_place:
            raise ValueError("the Ray engine reads songs where their files lie, in a folder every node sees: "
                             "index a media server with the embedded engine")
        from library.ray_engine import on_ray  # Ray is an optional extra

        return on_ray(predictor.artifact, backend, predictor.classifier.precision, settings, network_batch, address)
    if address:
        raise ValueError("an address names a Ray cluster: give it with the ray engine (--engine ray)")
    return embedded(predictor, settings, read)


class IndexRefused(Exception):
    """An index run that would lose songs or index nothing; the message says why and what to run."""


def roots_to_index(library: Library, folder: str | Path | None, add: bool, prune: bool) -> tuple[list[str], Scan]:
    """The library's folders with `folder` (a root already, or a new one: the first, or one
    `add`ed), and what they hold. Refuses (`IndexRefused`) a folder that is not one of the
    library's without `add`, a new folder without audio, and a folder that is missing, unreadable
    or empty while the library holds songs there unless `prune` confirms they are gone (a
    missing folder is then forgotten)."""
    server = library.server()
    if server is not None:
        raise IndexRefused(f"the library in {library.folder} holds the songs of {server['url']}: index that server "
                           f"(index {server['url']} --subsonic-user {server['user']}), or give folders a library of "
                           "their own (--library DIR)")
    roots = library.roots()
    if folder is None and not roots:
        raise IndexRefused(f"the library in {library.folder} has no music folder yet: give one (index MUSIC_DIR)")
    new = None if folder is None or str(Path(folder).resolve()) in roots else str(Path(folder).resolve())
    if new is not None and roots and not add:
        raise IndexRefused(f"the library in {library.folder} indexes {', '.join(roots)}, not {new}: nothing changed. "
                           f"Add it as another folder with --add, or name the library's folder (or none, for all)")
    if new is not None and not Path(new).is_dir():
        raise IndexRefused(f"no such folder: {new}")
    for root in roots if new is None else [*roots, new]:
        if any(under(root, other) or under(other, root) for other in roots if other != root):
            raise IndexRefused(f"{root} lies inside another folder of the library ({', '.join(roots)})")
    found = scan(roots if new is None else [*roots, new])
    stored = [*library.files(), *library.failures()]
    for root in roots if new is None else [*roots, new]:
        why = _why_nothing_there(root, found)
        if why is None:
            continue
        held = sum(under(path, root) for path in stored)
        if root == new:
            raise IndexRefused(why)
        if held and not prune:
            raise IndexRefused(f"{why}; the library holds {held} songs there and keeps them (an unmounted disk?). "
                               f"If they are really gone: python -m serving --library {library.folder} index --prune")
        if not Path(root).is_dir():
            library.forget_root(root)
    if new is not None:
        library.add_root(new)
    return library.roots(), found


def _why_nothing_there(root: str, found: Scan) -> str | None:
    """Why `root` yields no song (missing, unreadable, no audio files), or None."""
    if not Path(root).is_dir():
        return f"{root} is missing"
    if root in found.unreadable:
        return f"{root} cannot be read"
    if not any(under(f.path, root) for f in found.files):
        return f"no audio files found under {root} (looked for {', '.join(sorted(AUDIO_SUFFIXES))})"
    return None


def index_library(
    source: Source | str | Path | None, library: Library, analyse: Engine, labels: list[str], tags: list[str],
    analysis: dict[str, Any], genre_weight: float, settings: LibraryConfig, progress: bool = True,
    add: bool = False, prune: bool = False,
) -> Summary:
    """Bring `library` up to date with `source`: a `Source`, or a folder of the library
    (`roots_to_index`: one of them, or `add`ed; None: all of them), the new and changed songs
    analysed by `analyse` (an `engine` reading the source's songs); what was done, for printing.
    Raises `IndexRefused` before changing anything it should not. (The CLI asks
    `roots_to_index` first, before it loads the network, and passes its answer as `Folders`.)"""
    started = time.perf_counter()
    summary = Summary()
    if source is None or isinstance(source, (str, Path)):
        source = Folders(roots_to_index(library, source, add, prune)[1])
    stored = library.meta("analysis")
    if stored is not None and stored != analysis:
        changed = sorted(k for k in analysis if stored.get(k) != analysis[k])
        summary.reanalysed_all = f"the analysis settings differ from the library's ({', '.join(changed)})"
        library.clear()
    library.set_meta(analysis=analysis, labels=labels, tags=tags)
    todo = source.plan(library, settings.threads)
    summary.unreadable = source.unreadable
    summary.moved = sum(old != new for old, new, *_ in todo.moves)
    summary.unchanged = todo.unchanged + len(todo.moves) - summary.moved  # touched: same content
    summary.failed_before = todo.failed_before
    summary.removed = len(todo.removed)
    library.write([], [], todo.moves, todo.removed)

    rows: list[dict[str, Any]] = []
    failures: list[tuple[str, int, int, str]] = []
    results = analyse(todo.analyse) if todo.analyse else iter(())
    for (file, _), outcome in tqdm(results, total=len(todo.analyse), desc="analysing", unit="song",
                                        disable=not progress):
        if isinstance(outcome, str):
            failures.append((file.path, file.size, file.mtime_ns, outcome))
            summary.failed.append((file.path, outcome))
        else:
            rows.append(_row(file, outcome, labels))
            summary.analysed += 1
        if len(rows) + len(failures) >= settings.batch_songs:
            library.write(rows, failures, [], [])
            rows, failures = [], []
    library.write(rows, failures, [], [])
    library.load_vector_index(genre_weight, settings)  # rewritten only if the rows changed since it was written
    library.set_meta(indexed_at=time.time())
    summary.seconds = time.perf_counter() - started
    return summary


def _row(file: FileState, song: Analysed, labels: list[str]) -> dict[str, Any]:
    return {
        "path": file.path, "content_hash": song.content_hash, "size": file.size, "mtime_ns": file.mtime_ns,
        "server_id": file.server_id,
        "duration": song.duration, "title": song.file_tags.title, "artist": song.file_tags.artist,
        "album": song.file_tags.album, "file_genre": song.file_tags.genre,
        "genre": labels[int(np.argmax(song.probabilities))],
        "probabilities": song.probabilities.astype(np.float32).tobytes(),
        "embedding": song.embedding.astype(np.float32).tobytes(), "tags": song.tags.astype(np.float32).tobytes(),
        "windows": song.windows, "analysed_at": time.time(),
    }


def windows_per_song(settings: LibraryConfig, artifact: ModelArtifact) -> LibraryConfig:
    """`settings` with `max_windows` resolved: its own value where set, else the model's
    (`windows.library_windows`: every window for the CRNNs, a few for MSD-musicnn's 3 s patches)."""
    if settings.max_windows is not None:
        return settings
    return settings.model_copy(update={"max_windows": artifact.windows.library_windows})


def analysis_settings(model_tag: str, predictor: GenrePredictor, max_windows: int | None) -> dict[str, Any]:
    """What makes two analyses comparable: the model (tag with version: the one model that may
    answer from this library), its spectrogram and window settings, the precision the network
    runs in, and how many windows of a song are analysed; and what the model's answers carry
    (its caveat), so answers from the library say it too."""
    artifact = predictor.artifact
    return {"model": model_tag, "spectrogram": artifact.spectrogram.digest(), "windows": artifact.windows.model_dump(),
            "precision": predictor.classifier.precision, "max_windows": max_windows, "caveat": artifact.caveat}
