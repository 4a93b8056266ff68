"""The library on disk: `library.db` (SQLite: one row per song, failures, what the analysis used)
and `library.faiss`, the vector index (one inner-product vector per song, see
`library.ranking.song_vectors`: exact up to `library.exact_up_to` songs, an IVF index above).

SQLite is the truth. Every batch of songs is one transaction, so a killed indexer leaves only
whole songs behind; the vector index is derived from the rows and rewritten atomically (a new
file renamed over the old), stamped with the row version it holds, and rebuilt whenever the
stamp is behind, so it can never disagree with the database for long.

The file's layout has a number (`PRAGMA user_version`, `SCHEMA_VERSION`): an older file is
upgraded in place by the steps of `MIGRATIONS`, each in its own transaction; a newer one, or
a file this code does not recognise, is refused with the command that rebuilds it, never misread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from library.ranking import Songs, song_vectors
from library.settings import LibraryConfig

SCHEMA_VERSION = 5
SCHEMA = """
CREATE TABLE songs (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    duration REAL NOT NULL,
    title TEXT, artist TEXT, album TEXT,
    file_genre TEXT,
    genre TEXT NOT NULL,
    probabilities BLOB NOT NULL,
    embedding BLOB NOT NULL,
    tags BLOB NOT NULL,
    windows INTEGER NOT NULL,
    analysed_at REAL NOT NULL,
    server_id TEXT
);
CREATE INDEX songs_by_hash ON songs (content_hash);
CREATE UNIQUE INDEX songs_by_server_id ON songs (server_id);
CREATE TABLE failures (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL);
CREATE TABLE genre_writes (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    old TEXT,
    new TEXT,
    written_at REAL NOT NULL
);
"""


def _create(db: sqlite3.Connection) -> None:
    for statement in filter(str.strip, SCHEMA.split(";")):
        db.execute(statement)


def _drop_per_song_analysis(db: sqlite3.Connection) -> None:
    """0 -> 1: every row repeated the library's analysis settings (about 200 bytes a song); they
    live once, in `meta`, since a change of settings re-analyses every song."""
    db.execute("ALTER TABLE songs DROP COLUMN analysis")


def _folders_as_roots(db: sqlite3.Connection) -> None:
    """1 -> 2: a library knows every folder it indexes (its roots), not only the last one named."""
    db.execute("CREATE TABLE roots (path TEXT PRIMARY KEY, added_at REAL NOT NULL)")
    row = db.execute("SELECT value FROM meta WHERE key = 'folder'").fetchone()
    if row is not None:
        db.execute("INSERT INTO roots VALUES (?, ?)", (json.loads(row[0]), time.time()))
        db.execute("DELETE FROM meta WHERE key = 'folder'")


def _tags(db: sqlite3.Connection) -> None:
    """2 -> 3: a model with tags (MSD-musicnn) stores each song's tag probabilities; the songs of
    earlier models have none."""
    db.execute("ALTER TABLE songs ADD COLUMN tags BLOB NOT NULL DEFAULT x''")


def _server_ids(db: sqlite3.Connection) -> None:
    """3 -> 4: a song indexed from a media server (`library.server_songs`) keeps the server's id
    for it, by which the server and its clients name the song; a folder's songs have none."""
    db.execute("ALTER TABLE songs ADD COLUMN server_id TEXT")
    db.execute("CREATE UNIQUE INDEX songs_by_server_id ON songs (server_id)")


def _genre_writes(db: sqlite3.Connection) -> None:
    """4 -> 5: the genre field of each song's file (unknown, NULL, until the file is analysed again
    or `python -m serving tag` reads it), and every genre written into a file, to undo it."""
    db.execute("ALTER TABLE songs ADD COLUMN file_genre TEXT")
    db.execute("CREATE TABLE genre_writes (id INTEGER PRIMARY KEY, path TEXT NOT NULL, old TEXT, new TEXT, "
               "written_at REAL NOT NULL)")


# MIGRATIONS[n] upgrades a file of version n to n + 1.
MIGRATIONS = [_drop_per_song_analysis, _folders_as_roots, _tags, _server_ids, _genre_writes]
TABLES_OF_VERSION_0 = {"songs", "failures", "meta"}


class LibraryError(Exception):
    """A library file that cannot be used as it is; the message says what to run."""


@dataclass(frozen=True)
class Song:
    id: int
    path: str
    content_hash: str
    size: int
    mtime_ns: int
    duration: float
    title: str | None
    artist: str | None
    album: str | None
    file_genre: str | None  # the genre field of the file itself, as last read or written
    genre: str
    server_id: str | None  # the song's id on the media server it was indexed from; None for a folder's song
    probabilities: np.ndarray
    embedding: np.ndarray
    tags: np.ndarray  # the model's tag probabilities: none for a model with genres only

    @property
    def name(self) -> str:
        return Path(self.path).name

    def label(self) -> str:
        """"Artist - Title" where the tags say, else the file name."""
        return f"{self.artist} - {self.title}" if self.artist and self.title else self.name


SONG_COLUMNS = ("id, path, content_hash, size, mtime_ns, duration, title, artist, album, file_genre, genre, server_id, "
                "probabilities, embedding, tags")


def _song(row: tuple) -> Song:
    return Song(*row[:-3], *(np.frombuffer(blob, np.float32) for blob in row[-3:]))


class Library:
    """One library folder's analysis: `Library(path)` opens (or creates) `path/library.db`,
    upgrading an older file in place."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path, self.vector_index_path = self.folder / "library.db", self.folder / "library.faiss"
        # The service opens a library in one thread and reads it in another (never two at once).
        self.db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            self._upgrade()  # first: a file that is refused is left exactly as it was
            self.db.execute("PRAGMA journal_mode=WAL")  # readers (the service) never block the indexer
            self.db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise LibraryError(f"{self.db_path} is not a library file ({exc}): {self._rebuild}") from None
        except LibraryError:
            self.db.close()
            raise
        self.db.isolation_level = ""  # back to Python's transactions: `with self.db:` commits or rolls back

    @property
    def _rebuild(self) -> str:
        return (f"move it away and index the music again: mv {self.db_path} {self.db_path}.old && "
                f"python -m serving --library {self.folder} index MUSIC_DIR")

    def _upgrade(self) -> None:
        """Create the tables of a new file, or bring an older file up to `SCHEMA_VERSION`."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {name for (name,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version > SCHEMA_VERSION:
            raise LibraryError(f"{self.db_path} was written by a newer genre-recsys (library schema {version}, this "
                               f"one reads up to {SCHEMA_VERSION}): upgrade genre-recsys, or {self._rebuild}")
        if version == 0 and not tables:
            self._transaction(_create, SCHEMA_VERSION)
            return
        if version == 0 and not TABLES_OF_VERSION_0 <= tables:
            raise LibraryError(f"{self.db_path} holds other tables than a library's ({', '.join(sorted(tables))}): "
                               f"{self._rebuild}")
        for step in range(version, SCHEMA_VERSION):
            self._transaction(MIGRATIONS[step], step + 1)

    def _transaction(self, change: Callable[[sqlite3.Connection], None], version: int) -> None:
        """One schema change and its version number, together or not at all (and not twice when
        another process made it first)."""
        self.db.execute("BEGIN IMMEDIATE")
        if self.db.execute("PRAGMA user_version").fetchone()[0] >= version:
            self.db.execute("ROLLBACK")
            return
        try:
            change(self.db)
            self.db.execute(f"PRAGMA user_version = {version}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    # -- what the analysis used -------------------------------------------------------------

    def meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, **values: Any) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in values.items()])

    def model(self) -> str | None:
        """The model (tag:version) that analysed the songs; None before the first analysis."""
        return (self.meta("analysis") or {}).get("model")

    def caveat(self) -> str | None:
        """What to know about the analysing model's answers (a model trained on generated data)."""
        return (self.meta("analysis") or {}).get("caveat")

    def server(self) -> dict[str, str] | None:
        """The media server this library indexes ({"url", "user"}); None for a library of folders."""
        return self.meta("server")

    def roots(self) -> list[str]:
        """The folders this library indexes (absolute), in the order they were added."""
        return [p for (p,) in self.db.execute("SELECT path FROM roots ORDER BY added_at, path")]

    def add_root(self, path: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO roots VALUES (?, ?)", (path, time.time()))

    def forget_root(self, path: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM roots WHERE path = ?", (path,))

    def labels(self) -> list[str]:
        """The analysing model's labels: what each stored probability is the share of."""
        return self.meta("labels") or []

    def tag_labels(self) -> list[str]:
        """The analysing model's tags: what each stored tag probability is of ([] without tags)."""
        return self.meta("tags") or []

    def version(self) -> int:
        """Bumped by every change to the songs: what the vector index is stamped with."""
        return self.meta("version") or 0

    # -- rows -------------------------------------------------------------------------------

    def songs(self, where: str = "", args: tuple = ()) -> list[Song]:
        return [_song(r) for r in self.db.execute(f"SELECT {SONG_COLUMNS} FROM songs {where} ORDER BY id", args)]

    def files(self) -> dict[str, tuple[int, int]]:
        """{path: (size, mtime_ns)} of every song."""
        return {p: (s, m) for p, s, m in self.db.execute("SELECT path, size, mtime_ns FROM songs")}

    def failures(self) -> dict[str, tuple[int, int, str]]:
        """{path: (size, mtime_ns, reason)} of every file that could not be analysed."""
        return {p: (s, m, r) for p, s, m, r in self.db.execute("SELECT path, size, mtime_ns, reason FROM failures")}

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM songs").fetchone()[0]

    def write(self, songs: list[dict[str, Any]], failures: list[tuple[str, int, int, str]],
              moves: list[tuple[str, str, int, int]], removed: list[str]) -> None:
        """One transaction: new or re-analysed songs (replacing a row of the same path), failures,
        moves (old path, new path, size, mtime), removed paths; the version is bumped with them."""
        if not (songs or failures or moves or removed):
            return
        with self.db:
            self.db.executemany("DELETE FROM songs WHERE path = ?", [(p,) for p in removed])
            self.db.executemany("DELETE FROM failures WHERE path = ?", [(p,) for p in removed])
            self.db.executemany("UPDATE songs SET path = ?, size = ?, mtime_ns = ? WHERE path = ?",
                                [(new, size, mtime, old) for old, new, size, mtime in moves])
            self.db.executemany(
                "INSERT OR REPLACE INTO songs (path, content_hash, size, mtime_ns, duration, title, artist, album,"
                " file_genre, genre, probabilities, embedding, tags, windows, analysed_at, server_id)"
                " VALUES (:path, :content_hash, :size, :mtime_ns, :duration, :title, :artist, :album, :file_genre,"
                " :genre, :probabilities, :embedding, :tags, :windows, :analysed_at, :server_id)",
                # the indexer's rows carry every column; rows built elsewhere (tests, benchmarks) may
                # leave out the two that only some songs have: a server's id, a genre in the file
                [{"server_id": None, "file_genre": None, **song} for song in songs])
            self.db.executemany("DELETE FROM failures WHERE path = ?", [(s["path"],) for s in songs] + [(m[1],) for m in moves])
            self.db.executemany("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                                [(*f, time.time()) for f in failures])
            self._bump_version()

    # -- genres written into the files ------------------------------------------------------

    def set_file_genres(self, genres: dict[str, str | None]) -> None:
        """The genre fields read from the songs' files ({path: genre}); the songs are otherwise unchanged."""
        with self.db:
            self.db.executemany("UPDATE songs SET file_genre = ? WHERE path = ?", [(g, p) for p, g in genres.items()])
            self._bump_version()

    def record_genre_writes(self, writes: list[tuple[str, str | None, str | None, int, int, str]]) -> None:
        """Genres written into files, (path, old, new, size, mtime_ns, content hash) after the write:
        kept to be undone, and the rows take the files' new state so that the next index sees the
        songs unchanged (the audio is; only the tags moved)."""
        with self.db:
            self.db.executemany("INSERT INTO genre_writes (path, old, new, written_at) VALUES (?, ?, ?, ?)",
                                [(path, old, new, time.time()) for path, old, new, *_ in writes])
            self.db.executemany("UPDATE songs SET file_genre = ?, size = ?, mtime_ns = ?, content_hash = ? WHERE path = ?",
                                [(new, size, mtime, digest, path) for path, _, new, size, mtime, digest in writes])
            self._bump_version()

    def genre_writes(self) -> dict[str, tuple[str | None, str | None]]:
        """{path: (the genre before the first write, the genre last written)} of every file written."""
        rows = self.db.execute("SELECT path, old, new FROM genre_writes ORDER BY id").fetchall()
        writes: dict[str, tuple[str | None, str | None]] = {}
        for path, old, new in rows:
            writes[path] = (writes[path][0] if path in writes else old, new)
        return writes

    def forget_genre_writes(self, paths: list[str]) -> None:
        """Undone: these files' writes are no longer recorded."""
        with self.db:
            self.db.executemany("DELETE FROM genre_writes WHERE path = ?", [(p,) for p in paths])

    def clear(self) -> None:
        """Forget every analysis (the model or its settings changed)."""
        with self.db:
            self.db.execute("DELETE FROM songs")
            self.db.execute("DELETE FROM failures")
            self._bump_version()

    def _bump_version(self) -> None:
        """Inside a transaction that changes the songs: the vector index is now behind."""
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (json.dumps(self.version() + 1),))

    # -- the vector index -------------------------------------------------------------------

    def vectors(self, genre_weight: float) -> tuple[np.ndarray, np.ndarray]:
        """(ids, song vectors) of every song, in id order."""
        rows = self.db.execute("SELECT id, probabilities, embedding, tags FROM songs ORDER BY id").fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], np.int64)
        songs = Songs(*(np.stack([np.frombuffer(r[i], np.float32) for r in rows]) for i in (1, 2, 3)))
        return ids, song_vectors(songs, genre_weight)

    def write_vector_index(self, genre_weight: float, settings: LibraryConfig) -> faiss.Index:
        """The inner-product index of every song, written atomically and stamped: exact up to
        `settings.exact_up_to` songs; above, an IVF index over sqrt(songs) k-means clusters
        (trained here: 12 s for 10^6 songs on two cores), whose distances are still exact."""
        version = self.version()
        ids, vectors = self.vectors(genre_weight)
        dim = vectors.shape[1] if len(vectors) else 1
        if len(ids) > settings.exact_up_to:
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, round(len(ids) ** 0.5), faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            index.add_with_ids(vectors, ids)
        else:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
            if len(ids):
                index.add_with_ids(vectors, ids)
        partial = self.vector_index_path.with_suffix(f".faiss.part{os.getpid()}")
        faiss.write_index(index, str(partial))
        os.replace(partial, self.vector_index_path)
        self.set_meta(index_version=version, index_made_for=[genre_weight, settings.exact_up_to])
        return self._searchable(index, settings)

    def load_vector_index(self, genre_weight: float, settings: LibraryConfig) -> faiss.Index:
        """The vector index, rebuilt first if it is missing, behind the rows or made for other settings."""
        current = (self.meta("index_version") == self.version() and self.vector_index_path.is_file()
                   and self.meta("index_made_for") == [genre_weight, settings.exact_up_to])
        if not current:
            return self.write_vector_index(genre_weight, settings)
        return self._searchable(faiss.read_index(str(self.vector_index_path)), settings)

    @staticmethod
    def _searchable(index: faiss.Index, settings: LibraryConfig) -> faiss.Index:
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = settings.probes  # a search setting, not stored with the index
        return index
