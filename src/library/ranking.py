"""Recommendation from genre distributions and embeddings: pure functions on arrays, and the
plain ranked answer (`rank`) that the library's queries and the services' file candidates share.

Nothing here knows about HTTP, files, torch or BentoML, so every rule is tested in milliseconds.

- taste profile: the mean genre distribution of the favourites;
- favourite genre: the old project's rule, the most frequent top genre among favourites, ties
  broken by the profile (all ten genres eligible);
- candidate score: `genre_weight` x Bhattacharyya similarity of the candidate's distribution to
  the profile + (1 - `genre_weight`) x cosine similarity of its embedding to the favourites'
  mean embedding (mapped to [0, 1]). Both terms are in [0, 1], so the score is too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.song import SongPrediction


class NoFavouritesError(ValueError):
    """Recommendation needs at least one readable favourite."""


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the candidates given
    score: float
    genre_similarity: float
    sound_similarity: float
    nearest_favourite: int  # index of the favourite whose embedding is closest


def taste_profile(favourite_probs: np.ndarray) -> np.ndarray:
    _require_favourites(favourite_probs)
    return favourite_probs.mean(axis=0)


def favourite_genre(favourite_probs: np.ndarray) -> int:
    """Index of the most frequent top genre; a tie goes to the genre the profile rates higher."""
    _require_favourites(favourite_probs)
    votes = np.bincount(favourite_probs.argmax(axis=1), minlength=favourite_probs.shape[1])
    tied = np.flatnonzero(votes == votes.max())
    profile = favourite_probs.mean(axis=0)
    return int(tied[np.argmax(profile[tied])])


def rank_candidates(
    favourite_probs: np.ndarray,
    favourite_embeddings: np.ndarray,
    candidate_probs: np.ndarray,
    candidate_embeddings: np.ndarray,
    top_k: int | None = None,
    genre_weight: float = 0.7,
) -> list[Ranked]:
    """Candidates best first (ties keep their input order)."""
    profile = taste_profile(favourite_probs)
    if len(candidate_probs) == 0:
        return []
    genre_similarity = np.sqrt(np.clip(candidate_probs, 0, None) * profile).sum(axis=1)
    sound = _cosine(candidate_embeddings, favourite_embeddings)  # (candidates, favourites)
    sound_similarity = (_cosine(candidate_embeddings, favourite_embeddings.mean(axis=0, keepdims=True))[:, 0] + 1) / 2
    scores = genre_weight * genre_similarity + (1 - genre_weight) * sound_similarity
    order = np.argsort(-scores, kind="stable")[: top_k if top_k is not None else None]
    return [
        Ranked(int(i), float(scores[i]), float(genre_similarity[i]), float(sound_similarity[i]), int(sound[i].argmax()))
        for i in order
    ]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def _require_favourites(favourite_probs: np.ndarray) -> None:
    if len(favourite_probs) == 0:
        raise NoFavouritesError("no readable favourites: give at least one song you like")


def song_vectors(probabilities: np.ndarray, embeddings: np.ndarray, genre_weight: float) -> np.ndarray:
    """One float32 vector per song, `[√w·√p, √((1-w)/2)·e/|e|]`, whose inner product with a
    `taste_vector` is `rank_candidates`' score minus the constant (1-w)/2: the Bhattacharyya
    coefficient is the inner product of square-rooted distributions, the cosine that of unit
    vectors. So one inner-product index ranks a library exactly as `rank_candidates` would."""
    genre = np.sqrt(genre_weight * np.clip(probabilities, 0, None))
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    return np.hstack([genre, np.sqrt((1 - genre_weight) / 2) * unit]).astype(np.float32)


def taste_vector(favourite_probs: np.ndarray, favourite_embeddings: np.ndarray, genre_weight: float) -> np.ndarray:
    """The query for recommending from favourites: their profile and mean embedding, as a song vector."""
    profile = taste_profile(favourite_probs)
    return song_vectors(profile[None], favourite_embeddings.mean(axis=0, keepdims=True), genre_weight)[0]


def score_of(inner_products: np.ndarray, genre_weight: float) -> np.ndarray:
    """`rank_candidates`' score from the inner product of a song vector and a taste vector."""
    return inner_products + (1 - genre_weight) / 2


@dataclass(frozen=True)
class Match:
    """A ranked candidate and why it ranks there."""

    song: SongPrediction
    score: float
    reason: str


@dataclass(frozen=True)
class Ranking:
    """Candidates ranked against favourites (or against one song, for "similar")."""

    favourite_genre: str
    profile: np.ndarray  # the favourites' mean distribution
    favourites: list[SongPrediction]
    matches: list[Match]  # best first


def rank(favourites: list[SongPrediction], candidates: list[SongPrediction], top_k: int | None,
         genre_weight: float) -> Ranking:
    """Profile, favourite genre, and the best `top_k` candidates with their reasons. Raises
    `NoFavouritesError` when there is no favourite."""
    _require_favourites(np.zeros((len(favourites), 1)))
    labels = favourites[0].labels
    probabilities = np.stack([s.probabilities for s in favourites])
    embeddings = np.stack([s.embedding for s in favourites])
    top = labels[favourite_genre(probabilities)]
    ranked = rank_candidates(
        probabilities, embeddings, _stack(candidates, "probabilities", len(labels)),
        _stack(candidates, "embedding", embeddings.shape[1]), top_k, genre_weight,
    )
    return Ranking(top, taste_profile(probabilities), favourites,
                   [Match(candidates[r.index], r.score, _reason(r, candidates[r.index], favourites, top)) for r in ranked])


def _stack(songs: list[SongPrediction], attribute: str, width: int) -> np.ndarray:
    """One row per song of `attribute`; (0, width) when there are no songs."""
    return np.stack([getattr(s, attribute) for s in songs]) if songs else np.zeros((0, width))


def _reason(ranked: Ranked, song: SongPrediction, favourites: list[SongPrediction], top: str) -> str:
    """Why a candidate ranks where it does: its genre against the favourites', both matches, and
    the favourite it sounds closest to."""
    genre = f"{song.genre} ({float(song.probabilities.max()):.0%})"
    if len(favourites) == 1:  # "similar": one song, no favourite genre to speak of
        asked = favourites[0]
        genre += f", like {asked.name}" if song.genre == asked.genre else f", {asked.name} is {asked.genre}"
        closest = ""
    else:
        genre += ", your favourite genre" if song.genre == top else f", not your favourite {top}"
        closest = f", closest to {favourites[ranked.nearest_favourite].name}"
    return f"{genre}; genre match {ranked.genre_similarity:.2f}, sound match {ranked.sound_similarity:.2f}{closest}"
