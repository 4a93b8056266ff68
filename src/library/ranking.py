"""Recommendation from what a network says of songs: pure functions on arrays, and the plain
ranked answer (`rank`) that the library's queries and the services' file candidates share.

Nothing here knows about HTTP, files, torch or BentoML, so every rule is tested in milliseconds.

- taste profile: the favourites' mean probabilities (and mean tags, for a model with tags);
- favourite genre: the old project's rule, the most frequent top genre among favourites, ties
  broken by the profile (all labels eligible);
- candidate score: `genre_weight` x label match + (1 - `genre_weight`) x sound match, both in
  [0, 1]. The label match is the Bhattacharyya similarity of the candidate's genre distribution
  to the profile, or, for a model with tags (MSD-musicnn), the cosine of its tags to the
  favourites' mean tags: tags say more than ten genres (mood, era, instruments, voice). The
  sound match is the cosine of its embedding to the favourites' mean embedding, mapped to [0, 1].

Both matches are inner products of normalised parts of one vector per song (`song_vectors`), so
the library's one inner-product index ranks exactly as `rank_candidates` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.song import SongPrediction, tag_shares


class NoFavouritesError(ValueError):
    """Recommendation needs at least one readable favourite."""


@dataclass(frozen=True)
class Songs:
    """Songs as ranking takes them, one row each."""

    probabilities: np.ndarray  # (songs, labels)
    embeddings: np.ndarray  # (songs, embedding size)
    tags: np.ndarray  # (songs, tags): no columns for a model with genres only

    @classmethod
    def of(cls, songs: list[SongPrediction], like: SongPrediction | None = None) -> Songs:
        """`songs` stacked; no songs gives no rows, of `like`'s widths where given."""
        if not songs:
            widths = [len(v) for v in (like.probabilities, like.embedding, like.tags)] if like else [0, 0, 0]
            return cls(*(np.zeros((0, width)) for width in widths))
        return cls(*(np.stack([getattr(s, name) for s in songs]) for name in ("probabilities", "embedding", "tags")))

    def __len__(self) -> int:
        return len(self.probabilities)

    def labels(self) -> np.ndarray:
        """What the label match compares: the tags of a model with tags, else the genre distribution."""
        return self.tags if self.tags.shape[1] else self.probabilities

    def mean(self) -> Songs:
        """The favourites' taste as one song: their mean probabilities, embedding and tags."""
        _require_favourites(self.probabilities)
        return Songs(*(rows.mean(axis=0, keepdims=True) for rows in (self.probabilities, self.embeddings, self.tags)))


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the candidates given
    score: float
    label_similarity: float  # genre match, or tag match for a model with tags
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


def song_vectors(songs: Songs, genre_weight: float) -> np.ndarray:
    """One float32 vector per song, `[√w·l, √((1-w)/2)·e/|e|]`, whose inner product with a
    `taste_vector` is `rank_candidates`' score minus the constant (1-w)/2. The label part `l` is
    √p for a genre distribution (the Bhattacharyya coefficient is the inner product of
    square-rooted distributions), t/|t| for tags; the cosine is that of unit vectors."""
    labels = songs.labels()
    label_part = _unit(labels) if songs.tags.shape[1] else np.sqrt(np.clip(labels, 0, None))
    return np.hstack([np.sqrt(genre_weight) * label_part,
                      np.sqrt((1 - genre_weight) / 2) * _unit(songs.embeddings)]).astype(np.float32)


def taste_vector(favourites: Songs, genre_weight: float) -> np.ndarray:
    """The query for recommending from favourites: their mean, as a song vector."""
    return song_vectors(favourites.mean(), genre_weight)[0]


def score_of(inner_products: np.ndarray, genre_weight: float) -> np.ndarray:
    """`rank_candidates`' score from the inner product of a song vector and a taste vector."""
    return inner_products + (1 - genre_weight) / 2


def rank_candidates(favourites: Songs, candidates: Songs, top_k: int | None = None,
                    genre_weight: float = 0.7) -> list[Ranked]:
    """Candidates best first (ties keep their input order), by the inner product of their song
    vectors with the favourites' taste vector, each match read off its own part."""
    query = taste_vector(favourites, genre_weight)
    if len(candidates) == 0:
        return []
    vectors = song_vectors(candidates, genre_weight)
    width = candidates.labels().shape[1]
    label_match = vectors[:, :width] @ query[:width]
    sound_match = vectors[:, width:] @ query[width:]
    scores = score_of(label_match + sound_match, genre_weight)
    label_similarity = label_match / genre_weight if genre_weight else np.zeros(len(candidates))
    cosine = _unit(candidates.embeddings) @ _unit(favourites.embeddings).T  # (candidates, favourites)
    sound_similarity = (_unit(candidates.embeddings) @ _unit(favourites.embeddings.mean(axis=0, keepdims=True)).T)[:, 0]
    order = np.argsort(-scores, kind="stable")[: top_k if top_k is not None else None]
    return [Ranked(int(i), float(scores[i]), float(label_similarity[i]), float((sound_similarity[i] + 1) / 2),
                   int(cosine[i].argmax())) for i in order]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _require_favourites(favourite_probs: np.ndarray) -> None:
    if len(favourite_probs) == 0:
        raise NoFavouritesError("no readable favourites: give at least one song you like")


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

    @property
    def tag_profile(self) -> np.ndarray:
        """The favourites' mean tags (no columns for a model with genres only)."""
        return np.mean([s.tags for s in self.favourites], axis=0)


def rank(favourites: list[SongPrediction], candidates: list[SongPrediction], top_k: int | None,
         genre_weight: float) -> Ranking:
    """Profile, favourite genre, and the best `top_k` candidates with their reasons. Raises
    `NoFavouritesError` when there is no favourite."""
    _require_favourites(np.zeros((len(favourites), 1)))
    liked = Songs.of(favourites)
    top = favourites[0].labels[favourite_genre(liked.probabilities)]
    ranked = rank_candidates(liked, Songs.of(candidates, favourites[0]), top_k, genre_weight)
    shared = _shared_tags(liked, favourites)
    return Ranking(top, taste_profile(liked.probabilities), favourites,
                   [Match(candidates[r.index], r.score, _reason(r, candidates[r.index], favourites, top, shared))
                    for r in ranked])


def _shared_tags(liked: Songs, favourites: list[SongPrediction]) -> set[str]:
    """The tags the favourites show together: the top tags of their mean tags."""
    return set(tag_shares(favourites[0].tag_labels, liked.tags.mean(axis=0)))


def _reason(ranked: Ranked, song: SongPrediction, favourites: list[SongPrediction], top: str, shared: set[str]) -> str:
    """Why a candidate ranks where it does: its genre against the favourites', the tags it shares
    with them, both matches, and the favourite it sounds closest to."""
    alone = len(favourites) == 1  # "similar": one song, no favourite genre to speak of
    whom = favourites[0].name if alone else "your favourites"
    parts = []
    if not song.tagger:  # a tagger's top label is a tag, said below
        genre = f"{song.genre} ({float(song.probabilities.max()):.0%})"
        if alone:
            asked = favourites[0]
            genre += f", like {asked.name}" if song.genre == asked.genre else f", {asked.name} is {asked.genre}"
        else:
            genre += ", your favourite genre" if song.genre == top else f", not your favourite {top}"
        parts.append(genre)
    if song.tag_labels:
        common = [tag for tag in song.top_tags() if tag in shared]
        parts.append(f"{', '.join(common)} like {whom}" if common else f"{', '.join(song.top_tags())}, unlike {whom}")
    match = "tag" if song.tag_labels else "genre"
    closest = "" if alone else f", closest to {favourites[ranked.nearest_favourite].name}"
    return f"{'; '.join(parts)}; {match} match {ranked.label_similarity:.2f}, sound match {ranked.sound_similarity:.2f}{closest}"
