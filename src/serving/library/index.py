"""`python -m serving index MUSIC_DIR`: analyse every song under a folder once, then only what changed.

A run compares the folder with the library: files whose size and modification time are as
stored are left alone; the rest are hashed, and a new path whose content matches a song that
disappeared is a move (its analysis kept), a known path with the same content a touch. What is
left is analysed by an engine (`embedded`: decoding and features on worker threads, the network
on the main thread; `serving.library.cluster.on_ray`: the same on a Ray cluster) and written by
this process, one transaction per batch of songs, so a killed run resumes where it stopped and
stores no song twice. A file that cannot be used is recorded with its reason and tried again when it changes.
Analysis settings that differ from the library's (another model, other features, another window
count) re-analyse everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from data.audio import AudioDecodeError
from data.probe import AUDIO_SUFFIXES  # what libsndfile or FFmpeg decode; other files are ignored
from data.tags import Tags, read_tags
from data.threads import ordered_map
from model.artifact import ModelArtifact
from model.predict import PreparedSong, SongAnalyzer, WindowClassifier
from serving.config import LibraryConfig
from serving.library.store import Library


@dataclass(frozen=True)
class FileState:
    path: str  # absolute
    size: int
    mtime_ns: int


@dataclass
class Plan:
    analyse: list[tuple[FileState, str]] = field(default_factory=list)  # with content hashes
    moves: list[tuple[str, str, int, int]] = field(default_factory=list)  # old, new, size, mtime
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed_before: int = 0  # unchanged files that could not be analysed last time


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

    def lines(self) -> list[str]:
        rate = self.analysed / self.seconds * 3600 if self.seconds and self.analysed else 0.0
        lines = [f"re-analysing everything: {self.reanalysed_all}"] if self.reanalysed_all else []
        lines.append(f"analysed {self.analysed}, unchanged {self.unchanged}, moved {self.moved}, removed {self.removed}, "
                     f"failed {len(self.failed)}" + (f" (+{self.failed_before} unchanged since they failed)" if self.failed_before else "")
                     + f"; {self.seconds:.1f} s, {rate:,.0f} songs/h")
        lines += [f"failed: {path}: {reason}" for path, reason in self.failed]
        return lines


def scan(folder: str | Path) -> list[FileState]:
    """Every audio file under `folder` (recursively, links followed), sorted by path."""
    found = []
    for root, _, names in os.walk(Path(folder).resolve(), followlinks=True):
        for name in names:
            path = Path(root, name)
            if path.suffix.lower() in AUDIO_SUFFIXES:
                stat = path.stat()
                found.append(FileState(str(path), stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda f: f.path)


def content_hash(path: str) -> str:
    """sha256 of the file's bytes: what recognises a moved or renamed song."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plan(library: Library, files: list[FileState], threads: int) -> Plan:
    """What to do with each file: leave, analyse, move, or remove."""
    known, failures = library.files(), library.failures()
    hashes = dict(library.db.execute("SELECT path, content_hash FROM songs"))
    present = {f.path for f in files}
    result, candidates = Plan(), []
    for f in files:
        if known.get(f.path) == (f.size, f.mtime_ns):
            result.unchanged += 1
        elif f.path not in known and failures.get(f.path, (None, None))[:2] == (f.size, f.mtime_ns):
            result.failed_before += 1
        else:
            candidates.append(f)
    gone_by_hash = {hashes[p]: p for p in known if p not in present}
    for f, digest in zip(candidates, ordered_map(lambda f: content_hash(f.path), candidates, threads)):
        if f.path in known and hashes[f.path] == digest:  # touched, same content
            result.moves.append((f.path, f.path, f.size, f.mtime_ns))
        elif f.path not in known and digest in gone_by_hash:
            result.moves.append((gone_by_hash.pop(digest), f.path, f.size, f.mtime_ns))
        else:
            result.analyse.append((f, digest))
    result.removed = sorted(set(gone_by_hash.values()) | {p for p in failures if p not in present})
    return result


@dataclass(frozen=True)
class Analysed:
    """One song's analysis, wherever it ran: what its library row holds beside the file's identity."""
    duration: float
    windows: int
    probabilities: np.ndarray
    embedding: np.ndarray
    tags: Tags


# What an engine gives back for each file it was handed: its analysis, or why it cannot be used.
Outcome = Analysed | str
ToAnalyse = tuple[FileState, str]  # a file and its content hash
Engine = Callable[[list[ToAnalyse]], Iterator[tuple[ToAnalyse, Outcome]]]


def prepare(analyzer: SongAnalyzer, path: str, max_windows: int | None) -> PreparedSong | str:
    """A song's windows, or the reason its file cannot be used."""
    try:
        return analyzer.prepare(path, max_windows=max_windows)
    except AudioDecodeError as exc:
        return exc.reason


def embedded(analyzer: SongAnalyzer, classifier: WindowClassifier, settings: LibraryConfig) -> Engine:
    """This process: decoding and features on `settings.threads` threads, the network on the
    calling thread, results in the order of the files."""

    def analyse(todo: list[ToAnalyse]) -> Iterator[tuple[ToAnalyse, Outcome]]:
        songs = ordered_map(lambda item: prepare(analyzer, item[0].path, settings.max_windows), todo, settings.threads)
        for item, song in zip(todo, songs):
            if isinstance(song, str):
                yield item, song
            else:
                probabilities, embedding = analyzer.song_answer(classifier.forward(song.windows))
                yield item, Analysed(song.duration, len(song.windows), probabilities, embedding, read_tags(item[0].path))

    return analyse


def index_library(
    folder: str | Path, library: Library, analyse: Engine, labels: list[str],
    analysis: dict[str, Any], genre_weight: float, settings: LibraryConfig, progress: bool = True,
) -> Summary:
    """Bring `library` up to date with `folder`, the new and changed files analysed by `analyse`
    (`embedded`, or `serving.library.cluster.on_ray`); what was done, for printing."""
    started = time.perf_counter()
    summary = Summary()
    stored = library.meta("analysis")
    if stored is not None and stored != analysis:
        changed = sorted(k for k in analysis if stored.get(k) != analysis[k])
        summary.reanalysed_all = f"the analysis settings differ from the library's ({', '.join(changed)})"
        library.clear()
    library.set_meta(analysis=analysis, folder=str(Path(folder).resolve()))
    todo = plan(library, scan(folder), settings.threads)
    summary.moved = sum(old != new for old, new, *_ in todo.moves)
    summary.unchanged = todo.unchanged + len(todo.moves) - summary.moved  # touched: same content
    summary.failed_before = todo.failed_before
    summary.removed = len(todo.removed)
    library.write([], [], todo.moves, todo.removed)

    rows: list[dict[str, Any]] = []
    failures: list[tuple[str, int, int, str]] = []
    results = analyse(todo.analyse) if todo.analyse else iter(())
    for (file, digest), outcome in tqdm(results, total=len(todo.analyse), desc="analysing", unit="song",
                                        disable=not progress):
        if isinstance(outcome, str):
            failures.append((file.path, file.size, file.mtime_ns, outcome))
            summary.failed.append((file.path, outcome))
        else:
            rows.append(_row(file, digest, outcome, labels, analysis))
            summary.analysed += 1
        if len(rows) + len(failures) >= settings.batch_songs:
            library.write(rows, failures, [], [])
            rows, failures = [], []
    library.write(rows, failures, [], [])
    library.load_index(genre_weight, settings)  # rewritten only if the rows changed since it was written
    library.set_meta(indexed_at=time.time())
    summary.seconds = time.perf_counter() - started
    return summary


def _row(file: FileState, digest: str, song: Analysed, labels: list[str], analysis: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": file.path, "content_hash": digest, "size": file.size, "mtime_ns": file.mtime_ns,
        "duration": song.duration, "title": song.tags.title, "artist": song.tags.artist, "album": song.tags.album,
        "genre": labels[int(np.argmax(song.probabilities))],
        "probabilities": song.probabilities.astype(np.float32).tobytes(),
        "embedding": song.embedding.astype(np.float32).tobytes(), "windows": song.windows,
        "analysis": json.dumps(analysis, sort_keys=True), "analysed_at": time.time(),
    }


def analysis_settings(model_tag: str, artifact: ModelArtifact, classifier: WindowClassifier,
                      max_windows: int | None) -> dict[str, Any]:
    """What makes two analyses comparable: the model (tag with version), its spectrogram and
    window settings, the precision the network runs in, and how many windows of a song are
    analysed."""
    return {"model": model_tag, "spectrogram": artifact.spectrogram.digest(), "windows": artifact.windows.model_dump(),
            "precision": classifier.precision, "max_windows": max_windows}
