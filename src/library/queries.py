"""Questions answered from a library's stored vectors, with no song decoded and no network loaded.

`LibraryQueries` holds the songs and the vector index (reloaded when the library changes, so
a re-indexed library is picked up without a restart). One library is analysed by one model:
asked on behalf of another model, it refuses (`ModelMismatch`) rather than compare two
networks' numbers. The query vector of `recommend` is the favourites' taste
(`library.ranking.taste_vector`), that of `similar` the song's own vector: the vector index
returns the best candidates, which `library.ranking.rank` then ranks and explains, exactly as
when candidates are given as files. `path` walks the same vectors from one song to another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from library.ranking import Ranking, Songs, rank, score_of, song_vectors, taste_vector
from library.settings import LibraryConfig
from library.store import Library, Song
from model.song import TAGS_SHOWN, SongPrediction


class ModelMismatch(Exception):
    """The library was analysed by another model than the one asking."""


class SongNotFound(KeyError):
    def __str__(self) -> str:
        return self.args[0]


class UnknownTag(ValueError):
    """A search by a tag the library's model does not have."""


@dataclass(frozen=True)
class PathStep:
    """A song of a song path, and how near it is to its point on the way."""

    song: Song
    score: float  # `recommend`'s score in [0, 1] against the point: 1 for both ends (see `LibraryQueries.walk`)


def check_model(library: Library, model: str) -> None:
    """Refuse `model` (tag:version) unless it is the model that analysed `library`."""
    analysed_with = library.model()
    if analysed_with is not None and analysed_with != model:
        raise ModelMismatch(
            f"the library in {library.folder} was analysed with {analysed_with}, not {model}: the two networks' "
            f"numbers do not compare. Ask with --model {analysed_with}, or re-analyse the library with {model}: "
            f"python -m serving --library {library.folder} --model {model} index")


class LibraryQueries:
    def __init__(self, library: Library, genre_weight: float, settings: LibraryConfig, model: str | None = None):
        """Queries on `library` for `model` (tag:version; None: whichever analysed it)."""
        if model is not None:
            check_model(library, model)
        self.library, self.genre_weight, self.settings = library, genre_weight, settings
        self.labels, self.tag_labels = library.labels(), library.tag_labels()
        self.version = -1
        self.refresh()

    def refresh(self) -> None:
        """Reload songs and vectors if the library changed since they were read."""
        version = self.library.version()
        if version == self.version:
            return
        self.vector_index = self.library.load_vector_index(self.genre_weight, self.settings)
        self.songs = {song.id: song for song in self.library.songs()}
        self.by_path = {song.path: song for song in self.songs.values()}
        self.by_server_id = {song.server_id: song for song in self.songs.values() if song.server_id is not None}
        self.copies: dict[str, set[int]] = {}  # content hash -> ids: a song's exact duplicates
        for song in self.songs.values():
            self.copies.setdefault(song.content_hash, set()).add(song.id)
        self.labels, self.tag_labels = self.library.labels(), self.library.tag_labels()
        self.version = version

    def song(self, song_id: int) -> Song:
        found = self.songs.get(song_id)
        if found is None:
            raise SongNotFound(f"no song {song_id} in the library")
        return found

    def server_song(self, server_id: str) -> Song:
        """A song of a library indexed from a media server, by the server's id for it."""
        found = self.by_server_id.get(server_id)
        if found is None:
            raise SongNotFound(f"no song with the server's id {server_id!r} in the library"
                               + ("" if self.by_server_id else " (it was not indexed from a media server)"))
        return found

    def prediction(self, song: Song) -> SongPrediction:
        """A library song as ranking takes songs."""
        return SongPrediction(song.name, self.labels, song.probabilities, song.embedding, [], song.duration, song.id,
                              song.path, song.title, song.artist, song.tags, self.tag_labels)

    def stored(self, path: str | Path) -> SongPrediction | None:
        """The stored answer for the file at `path`, if the library holds it."""
        song = self.by_path.get(str(Path(path).resolve()))
        return self.prediction(song) if song is not None else None

    def search(self, query: str, limit: int, offset: int = 0, tags: list[str] = ()) -> tuple[int, list[Song]]:
        """Songs by what a person remembers of them: (how many hold every word of `query` in their
        title, artist, album or file name, in any case and order, and show every one of `tags`
        among their top tags; `limit` of them from the `offset`-th on: one page). Ordered by
        "artist - title", or, searching by tags, by how likely the songs are to carry them. An
        empty query without tags matches every song. Raises `UnknownTag`."""
        columns = [self._tag_column(tag) for tag in tags]
        words = query.casefold().split()
        found = [s for s in self.songs.values() if _matches(s, words) and all(_shows(s, c) for c in columns)]
        if columns:
            found.sort(key=lambda s: (-float(s.tags[columns].sum()), s.label().casefold()))
        else:
            found.sort(key=lambda s: s.label().casefold())
        return len(found), found[offset:offset + limit]

    def _tag_column(self, tag: str) -> int:
        folded = [label.casefold() for label in self.tag_labels]
        if tag.casefold() not in folded:
            known = f"its tags: {', '.join(self.tag_labels)}" if self.tag_labels else "it has no tags, only genres"
            raise UnknownTag(f"the library's model has no tag {tag!r}; {known}")
        return folded.index(tag.casefold())

    def recommend(self, favourites: list[SongPrediction], top_k: int, genre: str | None = None,
                  max_per_artist: int | None = None, exclude: set[int] = frozenset()) -> Ranking:
        """The library's songs best matching the favourites (the favourites themselves, their
        exact duplicates and the songs `exclude` names left out), ranked and explained as
        `recommend` does with candidates. Raises `NoFavouritesError` without favourites."""
        self.refresh()
        query = taste_vector(Songs.of(favourites), self.genre_weight)
        excluded = {s.song_id for s in favourites}.union(
            exclude, *(self.copies[self.songs[s.song_id].content_hash] for s in favourites if s.song_id in self.songs))
        candidates = self._search(query, excluded, top_k, genre, max_per_artist)
        return rank(favourites, [self.prediction(s) for s in candidates], top_k, self.genre_weight)

    def path(self, from_id: int, to_id: int, steps: int) -> list[Song]:
        """`steps` library songs that walk from song `from_id` (first) to song `to_id` (last), no
        song twice: what AudioMuse-AI calls a song path, OpenSubsonic `findSonicPath`. Raises
        `SongNotFound` for an unknown id, `ValueError` for fewer than 2 steps, one song as both
        ends, or a library holding too few songs."""
        return [step.song for step in self.walk(from_id, to_id, steps)]

    def walk(self, from_id: int, to_id: int, steps: int) -> list[PathStep]:
        """`path`, each song with its score. The `steps - 2` points between the two songs' vectors
        are evenly spaced on the straight line between them, not normalised: all song vectors
        have the same length, so the largest inner product is also the nearest song, and the
        score at a point t of the way is exactly (1 - t) x the song's score against FROM + t x
        its score against TO. Each step takes the unused song nearest to its point; an exact
        copy (same content) of a song already on the path is never used, FROM's and TO's
        included."""
        self.refresh()
        ends = [self.song(from_id), self.song(to_id)]
        if steps < 2:
            raise ValueError(f"a path has at least 2 songs (its two ends), not {steps}")
        if from_id == to_id:
            raise ValueError(f"a path goes from one song to another: both ends are song {from_id}")
        others = len({song.content_hash for song in self.songs.values()} - {song.content_hash for song in ends})
        if steps - 2 > others:
            raise ValueError(f"a path of {steps} songs needs {steps - 2} between its ends; the library holds only "
                             f"{others} other songs (exact copies counted once)")
        start, end = self._vectors(ends)
        points = np.linspace(start, end, steps)
        walked, used = [ends[0]], self.copies[ends[0].content_hash] | self.copies[ends[1].content_hash]
        between = points[1:-1].astype(np.float32)
        # One search for every point (faiss batches them): enough neighbours each for the songs the
        # walk can use before it, unless they have many copies; then `_search` asks for more.
        ranked = self.vector_index.search(between, min(self.vector_index.ntotal, steps + len(used)))[1] if len(between) else []
        for number, (point, neighbours) in enumerate(zip(between, ranked), 2):
            nearest = [self.songs[i] for i in map(int, neighbours) if i in self.songs and i not in used][:1] \
                or self._search(point, used, 1, None, None)
            if not nearest:  # an approximate (IVF) index finds only songs in the clusters it probes
                raise ValueError(f"the vector index found no unused song near step {number}: ask for fewer steps")
            walked.append(nearest[0])
            used |= self.copies[nearest[0].content_hash]
        walked.append(ends[1])
        scores = score_of(np.einsum("ij,ij->i", self._vectors(walked), points), self.genre_weight)
        return [PathStep(song, float(score)) for song, score in zip(walked, scores)]

    def _vectors(self, songs: list[Song]) -> np.ndarray:
        """The songs' vectors, as the vector index holds them."""
        predictions = [self.prediction(song) for song in songs]
        return song_vectors(Songs.of(predictions, predictions[0]), self.genre_weight)

    def _search(self, query: np.ndarray, excluded: set[int | None], top_k: int, genre: str | None,
                max_per_artist: int | None) -> list[Song]:
        """The best `top_k` songs for `query` that pass the filters, best first; the vector index
        is asked for more until enough pass or it has no more."""
        wanted = top_k + len(excluded)
        while True:
            k = min(self.vector_index.ntotal, wanted)
            if k == 0:
                return []
            _, ids = self.vector_index.search(query[None].astype(np.float32), k)
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
            if k == self.vector_index.ntotal:
                return kept
            wanted *= 4


def _matches(song: Song, words: list[str]) -> bool:
    text = " ".join(part for part in (song.title, song.artist, song.album, song.name) if part).casefold()
    return all(word in text for word in words)


def _shows(song: Song, column: int) -> bool:
    """Whether the tag of `column` is among the song's top tags, as every answer shows them."""
    return column in np.argsort(-song.tags, kind="stable")[:TAGS_SHOWN]
