"""Genres into the files: each library song's top genre written into its file's own genre field,
which every player and media server reads (Jellyfin's Instant Mix, Navidrome's and Plex's
genre lists), so all of them gain from the analysis at once.

A genre the user set is kept unless asked to overwrite; a genre this library wrote may be
replaced by a newer analysis. Every write is recorded (old value, new value, when) so `undo`
puts the old values back, and the song's row takes the file's new size, time and hash: the
audio is unchanged, so the next index must not analyse it again. A file that cannot be written
is reported with its reason and the others are written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from data.file_tags import GenreWriteError, read_file_tags, write_genre
from library.scan import content_hash
from library.store import Library


@dataclass(frozen=True)
class GenreChange:
    path: str
    old: str | None
    new: str | None


@dataclass
class GenrePlan:
    changes: list[GenreChange] = field(default_factory=list)  # to write
    kept: list[GenreChange] = field(default_factory=list)  # the user's genre, not overwritten
    uncertain: list[GenreChange] = field(default_factory=list)  # top genre below the probability asked
    unchanged: int = 0  # the file already says the top genre


@dataclass
class GenreWrites:
    written: list[GenreChange] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def plan_genres(library: Library, name: Callable[[str], str], min_probability: float, overwrite: bool) -> GenrePlan:
    """What writing each song's top genre (as `name` spells it) would change, from the files'
    genre fields as they are now (also recorded in the library, for the page to show)."""
    ours = {path: new for path, (_, new) in library.genre_writes().items()}
    songs = library.songs()
    current = {song.path: read_file_tags(song.path).genre for song in tqdm(songs, desc="reading genres", unit="song")}
    library.set_file_genres(current)
    plan = GenrePlan()
    for song in songs:
        change = GenreChange(song.path, current[song.path], name(song.genre))
        if change.old == change.new:
            plan.unchanged += 1
        elif float(np.max(song.probabilities)) < min_probability:
            plan.uncertain.append(change)
        elif change.old and not overwrite and ours.get(song.path) != change.old:
            plan.kept.append(change)
        else:
            plan.changes.append(change)
    return plan


def write_genres(library: Library, changes: list[GenreChange]) -> GenreWrites:
    """Write each change into its file and record it; files that fail are listed, the others written."""
    result, done = GenreWrites(), []
    for change in tqdm(changes, desc="writing genres", unit="song"):
        try:
            write_genre(change.path, change.new)
            stat = os.stat(change.path)
        except (GenreWriteError, OSError) as exc:
            result.failed.append((change.path, getattr(exc, "reason", None) or str(exc)))
            continue
        done.append((change.path, change.old, change.new, stat.st_size, stat.st_mtime_ns, content_hash(change.path)))
        result.written.append(change)
    library.record_genre_writes(done)
    return result


def undo_genres(library: Library) -> GenreWrites:
    """Every written file's genre put back as it was before the first write."""
    originals = library.genre_writes()
    changes = [GenreChange(path, last, first) for path, (first, last) in originals.items()]
    result = write_genres(library, changes)
    library.forget_genre_writes([change.path for change in result.written])
    return result

