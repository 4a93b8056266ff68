"""The `recommend` answer built from song predictions: typed, complete, the same for HTTP and CLI."""

from __future__ import annotations

import numpy as np
import pytest

from data.gtzan import GENRES
from library.ranking import NoFavouritesError, rank
from model.song import SongPrediction, WindowPrediction
from serving.responses import FileError, MadeBy, RecommendResponse, classification, recommendation

BY = MadeBy(model="genre-crnn:test")


def song(name: str, genre: str, share: float = 0.8, embedding: tuple[float, ...] = (1.0, 0.0)) -> SongPrediction:
    probabilities = np.full(len(GENRES), (1 - share) / (len(GENRES) - 1))
    probabilities[GENRES.index(genre)] = share
    window = WindowPrediction(0.0, 3.0, {g: round(float(p), 6) for g, p in zip(GENRES, probabilities)})
    return SongPrediction(name, list(GENRES), probabilities, np.array(embedding), [window], 30.0)


def test_recommend_answers_every_field_readme_shows():
    favourites = [song("a.wav", "jazz"), song("b.wav", "jazz", 0.6), song("c.wav", "rock")]
    candidates = [song("x.wav", "rock"), song("y.wav", "jazz", 0.9), song("z.wav", "metal", embedding=(0.0, 1.0))]
    errors = [FileError(file="bad.mp3", error="bad.mp3: truncated", status=400)]
    answer = recommendation(rank(favourites, candidates, top_k=2, genre_weight=0.7), errors, BY)
    assert isinstance(answer, RecommendResponse)
    assert answer.favorite_genre == "jazz"
    assert sum(answer.taste_profile.values()) == pytest.approx(1.0, abs=1e-5)
    assert [f.file for f in answer.favorites] == ["a.wav", "b.wav", "c.wav"]
    assert [r.file for r in answer.recommendations] == ["y.wav", "x.wav"]
    best = answer.recommendations[0]
    assert best.genre == "jazz" and 0 < best.score <= 1 and "your favourite genre" in best.reason
    assert "not your favourite jazz" in answer.recommendations[1].reason
    assert answer.errors == errors
    body = answer.model_dump(mode="json")
    assert set(body) == {"model", "caveat", "favorite_genre", "taste_profile", "taste_tags", "favorites", "recommendations",
                         "errors"}
    assert set(body["recommendations"][0]) == {"file", "id", "title", "artist", "genre", "score", "reason", "probabilities",
                                               "tags"}


def test_a_library_song_is_recommended_with_its_tags():
    tagged = song("elf-land.ogg", "classical")
    tagged.song_id, tagged.title, tagged.artist = 7, "Elf Land", "Aleksi Aubry-Carlson"
    answer = recommendation(rank([song("a.wav", "classical")], [tagged, song("x.wav", "rock")], 2, 0.7), [], BY)
    assert [(r.file, r.id, r.title, r.artist) for r in answer.recommendations] == [
        ("elf-land.ogg", 7, "Elf Land", "Aleksi Aubry-Carlson"), ("x.wav", None, None, None)]


def test_no_readable_favourite_is_an_error_not_an_empty_answer():
    with pytest.raises(NoFavouritesError):
        rank([], [song("x.wav", "rock")], top_k=3, genre_weight=0.7)


def test_classify_answers_the_song_and_its_windows():
    body = classification(song("x.wav", "metal"), BY).model_dump(mode="json")
    assert body["file"] == "x.wav" and body["genre"] == "metal" and body["duration"] == 30.0
    assert body["windows"] == [{"start": 0.0, "end": 3.0, "probabilities": body["windows"][0]["probabilities"]}]
    assert set(body["windows"][0]["probabilities"]) == set(GENRES)
