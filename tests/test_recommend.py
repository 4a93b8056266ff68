import numpy as np
import pytest

from library.ranking import NoFavouritesError, Songs, favourite_genre, rank_candidates, taste_profile


def onehot(*genres, n=10, share=0.9):
    rows = np.full((len(genres), n), (1 - share) / (n - 1))
    rows[np.arange(len(genres)), genres] = share
    return rows


def emb(*vectors):
    return np.array(vectors, dtype=float)


def songs(probabilities, embeddings, tags=None):
    return Songs(probabilities, embeddings, np.zeros((len(probabilities), 0)) if tags is None else tags)


def ranks(favourites, fav_emb, candidates, cand_emb, **options):
    return rank_candidates(songs(favourites, fav_emb), songs(candidates, cand_emb), **options)


def test_profile_is_the_mean_distribution():
    probs = onehot(1, 3)
    assert np.allclose(taste_profile(probs), probs.mean(axis=0))


def test_favourite_genre_is_the_most_frequent_top_genre():
    assert favourite_genre(onehot(5, 5, 2)) == 5


def test_tie_is_broken_by_the_profile():
    probs = onehot(2, 7)
    probs[1, 2] = 0.05  # both genres top once; genre 7 holds more of the profile
    probs[0, 7] = 0.08
    assert favourite_genre(probs) == 7


def test_every_genre_is_eligible():
    assert favourite_genre(onehot(9)) == 9 and favourite_genre(onehot(0)) == 0


def test_one_favourite_is_enough():
    ranked = ranks(onehot(4), emb([1, 0]), onehot(1, 4), emb([0, 1], [1, 0]))
    assert [r.index for r in ranked] == [1, 0]
    assert ranked[0].nearest_favourite == 0


def test_empty_favourites_is_a_clear_error():
    with pytest.raises(NoFavouritesError, match="at least one"):
        ranks(np.zeros((0, 10)), np.zeros((0, 2)), onehot(1), emb([1, 0]))
    with pytest.raises(NoFavouritesError):
        favourite_genre(np.zeros((0, 10)))


def test_no_readable_candidates_ranks_nothing():
    assert ranks(onehot(3), emb([1, 0]), np.zeros((0, 10)), np.zeros((0, 2))) == []


def test_candidates_of_one_genre_are_ordered_by_how_close_they_sound():
    favourites, fav_emb = onehot(6, 6), emb([1, 0], [0.9, 0.1])
    candidates = onehot(6, 6, 6)
    ranked = ranks(favourites, fav_emb, candidates, emb([0, 1], [1, 0.05], [0.5, 0.5]))
    assert [r.index for r in ranked] == [1, 2, 0]
    assert all(0 <= r.score <= 1 for r in ranked)


def test_genre_outweighs_sound_by_default_and_top_k_cuts():
    ranked = ranks(onehot(2), emb([1, 0]), onehot(8, 2, 2), emb([1, 0], [0, 1], [0.2, 1]), top_k=2)
    assert [r.index for r in ranked] == [2, 1]
    assert ranked[0].label_similarity == pytest.approx(ranked[1].label_similarity)


def test_the_inner_product_of_song_vectors_is_the_recommend_score():
    from library.ranking import score_of, song_vectors, taste_vector

    rng = np.random.default_rng(3)
    fav_p, cand_p = rng.dirichlet(np.ones(10), 4), rng.dirichlet(np.ones(10), 30)
    fav_e, cand_e = rng.normal(size=(4, 32)), rng.normal(size=(30, 32))
    fav_t, cand_t = rng.random((4, 50)), rng.random((30, 50))
    for tags in (False, True):
        favourites = songs(fav_p, fav_e, fav_t if tags else None)
        candidates = songs(cand_p, cand_e, cand_t if tags else None)
        for weight in (0.0, 0.3, 0.7, 1.0):
            ranked = rank_candidates(favourites, candidates, genre_weight=weight)
            scores = score_of(song_vectors(candidates, weight) @ taste_vector(favourites, weight), weight)
            assert np.allclose([scores[r.index] for r in ranked], [r.score for r in ranked], atol=1e-5)
            assert [r.index for r in ranked] == list(np.argsort(-scores, kind="stable"))
            assert all(-1e-6 <= r.score <= 1 + 1e-6 for r in ranked)


def test_a_model_with_tags_matches_by_tags_not_by_genre():
    """Same genre distribution everywhere: the candidate whose tags point the favourites' way wins."""
    probabilities = onehot(3, 3, 3)
    tags = np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.9], [0.8, 0.2, 0.1]])
    ranked = rank_candidates(songs(probabilities[:1], emb([1, 0]), tags[:1]),
                             songs(probabilities[1:], emb([1, 0], [1, 0]), tags[1:]))
    assert [r.index for r in ranked] == [1, 0]
    assert ranked[0].label_similarity == pytest.approx(float(tags[0] @ tags[2] / np.linalg.norm(tags[0]) / np.linalg.norm(tags[2])))
