"""What `classify` and `recommend` answer, as types: the same for HTTP (BentoML writes them into
the OpenAPI document at /docs.json) and for the CLI's --json."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from model.predict import SongPrediction, genre_shares
from serving.recommend import Ranked, favourite_genre, rank_candidates, taste_profile

Distribution = dict[str, float]


class WindowGenres(BaseModel):
    start: float = Field(description="seconds from the start of the song")
    end: float = Field(description="seconds from the start of the song")
    probabilities: Distribution = Field(description="genre distribution of this window")


class SongGenres(BaseModel):
    file: str = Field(description="the file name the client sent, or the library song's file name")
    id: int | None = Field(None, description="the library's id of the song, when it is a library song")
    genre: str = Field(description="the most likely genre")
    probabilities: Distribution = Field(description="genre distribution of the whole song, summing to 1")
    duration: float = Field(description="seconds of audio")


class Classification(SongGenres):
    windows: list[WindowGenres] = Field(description="the distribution of each window the network saw, in order")


class FileError(BaseModel):
    file: str
    error: str = Field(description="the file name and why it could not be used")
    status: int | None = Field(None, description="the HTTP status this file alone would have got")


class Recommendation(BaseModel):
    file: str
    id: int | None = Field(None, description="the library's id of the song, when it is a library song")
    genre: str
    score: float = Field(description="genre_weight x genre match + (1 - genre_weight) x sound match, in [0, 1]")
    reason: str
    probabilities: Distribution


class RecommendResponse(BaseModel):
    favorite_genre: str = Field(description="the most frequent top genre among the favourites")
    taste_profile: Distribution = Field(description="the favourites' mean genre distribution")
    favorites: list[SongGenres]
    recommendations: list[Recommendation] = Field(description="best first")
    errors: list[FileError] = Field(description="files that could not be used; the others were answered")


class LibraryFailure(BaseModel):
    file: str
    reason: str


class LibraryStatus(BaseModel):
    songs: int = Field(description="songs analysed and answerable")
    failures: list[LibraryFailure] = Field(description="files that could not be analysed, with the reason")
    model: str | None = Field(description="the model (tag:version) the library was analysed with")
    indexed_at: float | None = Field(description="when it was last indexed (Unix time)")


class LibrarySong(SongGenres):
    title: str | None = Field(description="from the file's tags")
    artist: str | None = Field(description="from the file's tags")
    album: str | None = Field(description="from the file's tags")


class NotFoundDetail(BaseModel):
    """A GET route's 404 (FastAPI's HTTPException body)."""

    detail: str


class LibrarySearch(BaseModel):
    total: int = Field(description="songs matching the query; `songs` holds the first of them")
    songs: list[LibrarySong] = Field(description='ordered by "artist - title", or file name where untagged')


class ClassifyResponse(BaseModel):
    """The CLI's `classify --json`: every song given, and the files that could not be used."""

    songs: list[Classification]
    errors: list[FileError]


def song_genres(song: SongPrediction) -> SongGenres:
    return SongGenres(file=song.name, id=song.song_id, genre=song.genre, probabilities=song.distribution(),
                      duration=round(song.duration, 3))


def classification(song: SongPrediction) -> Classification:
    windows = [WindowGenres(start=w.start, end=w.end, probabilities=w.probabilities) for w in song.windows]
    return Classification(**song_genres(song).model_dump(), windows=windows)


def recommendation(
    labels: list[str],
    favourites: list[SongPrediction],
    candidates: list[SongPrediction],
    errors: list[FileError],
    top_k: int | None,
    genre_weight: float,
) -> RecommendResponse:
    """Taste profile, favourite genre, ranked candidates with reasons, and per-file errors.

    Raises `NoFavouritesError` when no favourite could be read.
    """
    fav_probs = _rows(favourites, "probabilities", len(labels))
    profile = taste_profile(fav_probs)  # NoFavouritesError before anything else
    top = labels[favourite_genre(fav_probs)]
    fav_embeddings = _rows(favourites, "embedding", favourites[0].embedding.size)
    ranked = rank_candidates(
        fav_probs, fav_embeddings, _rows(candidates, "probabilities", len(labels)),
        _rows(candidates, "embedding", fav_embeddings.shape[1]), top_k, genre_weight,
    )
    return RecommendResponse(
        favorite_genre=top,
        taste_profile=genre_shares(labels, profile),
        favorites=[song_genres(s) for s in favourites],
        recommendations=[_entry(r, candidates[r.index], favourites, top) for r in ranked],
        errors=errors,
    )


def _rows(songs: list[SongPrediction], attribute: str, width: int) -> np.ndarray:
    """One row per song of `attribute`; (0, width) when there are no songs."""
    return np.stack([getattr(s, attribute) for s in songs]) if songs else np.zeros((0, width))


def _entry(ranked: Ranked, song: SongPrediction, favourites: list[SongPrediction], top: str) -> Recommendation:
    share = float(song.probabilities.max())
    genre_part = f"{song.genre} ({share:.0%})" + (", your favourite genre" if song.genre == top else f", not your favourite {top}")
    reason = (f"{genre_part}; genre match {ranked.genre_similarity:.2f}, sound match "
              f"{ranked.sound_similarity:.2f}, closest to {favourites[ranked.nearest_favourite].name}")
    return Recommendation(file=song.name, id=song.song_id, genre=song.genre, score=round(ranked.score, 6),
                          reason=reason, probabilities=song.distribution())
