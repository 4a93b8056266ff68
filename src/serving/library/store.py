"""The library on disk: `library.db` (SQLite: one row per song, failures, what the analysis used)
and `library.faiss` (one inner-product vector per song, see `serving.recommend.song_vectors`:
exact up to `library.exact_up_to` songs, an IVF index above).

SQLite is the truth. Every batch of songs is one transaction, so a killed indexer leaves only
whole songs behind; the vector index is derived from the rows and rewritten atomically (a new
file renamed over the old), stamped with the row version it holds, and rebuilt whenever the
stamp is behind, so it can never disagree with the database for long.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from serving.config import LibraryConfig
from serving.recommend import song_vectors

SCHEMA = """
CREATE TABLE IF NOT EXISTS songs (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    duration REAL NOT NULL,
    title TEXT, artist TEXT, album TEXT,
    genre TEXT NOT NULL,
    probabilities BLOB NOT NULL,
    embedding BLOB NOT NULL,
    windows INTEGER NOT NULL,
    analysis TEXT NOT NULL,
    analysed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS songs_by_hash ON songs (content_hash);
CREATE TABLE IF NOT EXISTS failures (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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
    genre: str
    probabilities: np.ndarray
    embedding: np.ndarray

    @property
    def name(self) -> str:
        return Path(self.path).name

    def label(self) -> str:
        """"Artist - Title" where the tags say, else the file name."""
        return f"{self.artist} - {self.title}" if self.artist and self.title else self.name


SONG_COLUMNS = "id, path, content_hash, size, mtime_ns, duration, title, artist, album, genre, probabilities, embedding"


def _song(row: tuple) -> Song:
    *head, probabilities, embedding = row
    return Song(*head, np.frombuffer(probabilities, np.float32), np.frombuffer(embedding, np.float32))


class Library:
    """One library folder's analysis: `Library(path)` opens (or creates) `path/library.db`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path, self.index_path = self.folder / "library.db", self.folder / "library.faiss"
        # The service opens a library in one thread and reads it in another (never two at once).
        self.db = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")  # readers (the service) never block the indexer
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

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

    def version(self) -> int:
        """Bumped by every change to the songs: what the vector index is stamped with."""
        return self.meta("version") or 0

    # -- rows -------------------------------------------------------------------------------

    def songs(self, where: str = "", args: tuple = ()) -> list[Song]:
        return [_song(r) for r in self.db.execute(f"SELECT {SONG_COLUMNS} FROM songs {where} ORDER BY id", args)]

    def song(self, song_id: int) -> Song | None:
        found = self.songs("WHERE id = ?", (song_id,))
        return found[0] if found else None

    def song_at(self, path: str | Path) -> Song | None:
        found = self.songs("WHERE path = ?", (str(path),))
        return found[0] if found else None

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
                " genre, probabilities, embedding, windows, analysis, analysed_at)"
                " VALUES (:path, :content_hash, :size, :mtime_ns, :duration, :title, :artist, :album, :genre,"
                " :probabilities, :embedding, :windows, :analysis, :analysed_at)", songs)
            self.db.executemany("DELETE FROM failures WHERE path = ?", [(s["path"],) for s in songs] + [(m[1],) for m in moves])
            self.db.executemany("INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                                [(*f, time.time()) for f in failures])
            self._bump_version()

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
        rows = self.db.execute("SELECT id, probabilities, embedding FROM songs ORDER BY id").fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], np.int64)
        probabilities = np.stack([np.frombuffer(r[1], np.float32) for r in rows])
        embeddings = np.stack([np.frombuffer(r[2], np.float32) for r in rows])
        return ids, song_vectors(probabilities, embeddings, genre_weight)

    def write_index(self, genre_weight: float, settings: LibraryConfig) -> faiss.Index:
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
        partial = self.index_path.with_suffix(f".faiss.part{os.getpid()}")
        faiss.write_index(index, str(partial))
        os.replace(partial, self.index_path)
        self.set_meta(index_version=version, index_made_for=[genre_weight, settings.exact_up_to])
        return self._searchable(index, settings)

    def load_index(self, genre_weight: float, settings: LibraryConfig) -> faiss.Index:
        """The vector index, rebuilt first if it is missing, behind the rows or made for other settings."""
        current = (self.meta("index_version") == self.version() and self.index_path.is_file()
                   and self.meta("index_made_for") == [genre_weight, settings.exact_up_to])
        if not current:
            return self.write_index(genre_weight, settings)
        return self._searchable(faiss.read_index(str(self.index_path)), settings)

    @staticmethod
    def _searchable(index: faiss.Index, settings: LibraryConfig) -> faiss.Index:
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = settings.probes  # a search setting, not stored with the index
        return index
