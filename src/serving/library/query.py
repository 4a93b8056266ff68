"""Questions answered from the library's index, with no song of the library decoded.

`LibraryIndex` holds the songs and the inner-product index (reloaded when the library
changes, so a re-indexed library is picked up without a restart). The query vector of
`recommend` is the favourites' taste (`serving.recommend.taste_vector`), that of `similar` the
song's own vector: the index returns the best candidates, which `serving.responses.recommendation`
then ranks with today's score and explains, exactly as when candidates are given as files.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from model.predict import SongPrediction
from serving.config import LibraryConfig
from serving.library.store import Library, Song
from serving.recommend import taste_vector
from serving.responses import FileError, RecommendResponse, recommendation


def as_prediction(song: Song, labels: list[str]) -> SongPrediction:
    """A library song as the recommendation functions take songs."""
    return SongPrediction(song.name, labels, song.probabilities, song.embedding, [], song.duration, song.id)


class LibraryIndex:
    def __init__(self, library: Library, labels: list[str], genre_weight: float, settings: LibraryConfig):
        self.library, self.labels, self.genre_weight, self.settings = library, labels, genre_weight, settings
        self.version = -1
        self.refresh()

    def refresh(self) -> None:
        """Reload songs and vectors if the library changed since they were read."""
        version = self.library.version()
        if version == self.version:
            return
        self.index = self.library.load_index(self.genre_weight, self.settings)
        self.songs = {song.id: song for song in self.library.songs()}
        self.copies: dict[str, set[int]] = {}  # content hash -> ids: a song's exact duplicates
        for song in self.songs.values():
            self.copies.setdefault(song.content_hash, set()).add(song.id)
        self.version = version

    def recommend(
        self, favourites: list[SongPrediction], errors: list[FileError], top_k: int,
        genre: str | None = None, max_per_artist: int | None = None,
    ) -> RecommendResponse:
        """The library's songs best matching the favourites (the favourites themselves and their
        exact duplicates left out), ranked and explained as `recommend` does with candidates."""
        self.refresh()
        probs = np.stack([s.probabilities for s in favourites]) if favourites else np.zeros((0, len(self.labels)))
        embeddings = np.stack([s.embedding for s in favourites]) if favourites else np.zeros((0, 1))
        query = taste_vector(probs, embeddings, self.genre_weight)  # NoFavouritesError without favourites
        excluded = {s.song_id for s in favourites}.union(
            *(self.copies[self.songs[s.song_id].content_hash] for s in favourites if s.song_id in self.songs))
        candidates = self._search(query, excluded, top_k, genre, max_per_artist)
        return recommendation(self.labels, favourites, [as_prediction(s, self.labels) for s in candidates], errors,
                              top_k, self.genre_weight)

    def _search(self, query: np.ndarray, excluded: set[int | None], top_k: int, genre: str | None,
                max_per_artist: int | None) -> list[Song]:
        """The best `top_k` songs for `query` that pass the filters, best first; the index is
        asked for more until enough pass or it has no more."""
        wanted = top_k + len(excluded)
        while True:
            k = min(self.index.ntotal, wanted)
            if k == 0:
                return []
            _, ids = self.index.search(query[None].astype(np.float32), k)
            kept, per_artist = [], Counter()
            for song_id in ids[0]:
                song = self.songs.get(int(song_id))
                if song is None or song.id in excluded or (genre and song.genre != genre):
                    continue
                if max_per_artist and song.artist:
                    if per_artist[song.artist] >= max_per_artist:
                        continue
                    per_artist[song.artist] += 1
                kept.append(song)
                if len(kept) == top_k:
                    return kept
            if k == self.index.ntotal:
                return kept
            wanted *= 4


def write_playlist(path: str | Path, entries: list[tuple[str, float, str]]) -> Path:
    """An extended M3U playlist (UTF-8) of (absolute path, seconds, title) entries, in order."""
    lines = ["#EXTM3U"]
    for file, seconds, title in entries:
        lines += [f"#EXTINF:{round(seconds)},{title}", file]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
