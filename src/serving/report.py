"""Turn song predictions into the answer of `recommend`, the same for HTTP and the CLI."""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.predict import SongPrediction, genre_shares
from serving.recommend import Ranked, favourite_genre, rank_candidates, taste_profile


def recommendation(
    labels: list[str],
    favourites: list[SongPrediction],
    candidates: list[SongPrediction],
    errors: list[dict[str, str]],
    top_k: int | None,
    genre_weight: float,
) -> dict[str, Any]:
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
    return {
        "favorite_genre": top,
        "taste_profile": genre_shares(labels, profile),
        "favorites": [s.to_json(with_segments=False) for s in favourites],
        "recommendations": [_entry(r, candidates[r.index], favourites, top) for r in ranked],
        "errors": errors,
    }


def _rows(songs: list[SongPrediction], attribute: str, width: int) -> np.ndarray:
    """One row per song of `attribute`; (0, width) when there are no songs."""
    return np.stack([getattr(s, attribute) for s in songs]) if songs else np.zeros((0, width))


def _entry(ranked: Ranked, song: SongPrediction, favourites: list[SongPrediction], top: str) -> dict[str, Any]:
    share = float(song.probabilities.max())
    genre_part = f"{song.genre} ({share:.0%})" + (", your favourite genre" if song.genre == top else f", not your favourite {top}")
    reason = (f"{genre_part}; genre match {ranked.genre_similarity:.2f}, sound match "
              f"{ranked.sound_similarity:.2f}, closest to {favourites[ranked.nearest_favourite].name}")
    return {"file": song.name, "genre": song.genre, "score": round(ranked.score, 6), "reason": reason,
            "probabilities": song.distribution()}
