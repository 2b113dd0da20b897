"""Reasons that hold: on hand-made item spaces where the nearest films are known, and on the
shipped model (``models/``) through ``Recommender.recommend``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.rules import POSITIVE_RATING
from ml.serving.constraints import Constraints
from ml.serving.reasons import (
    MAX_NEIGHBOURS,
    MIN_NEIGHBOURS,
    Neighbourhoods,
    neighbour_count,
    personal_reasons,
)
from ml.serving.recommender import Recommender

# Films 0–3 point one way, 4–7 another, 8 and 9 a third; unit vectors.
ANGLES = np.array([0.0, 0.05, 0.1, 0.15, 1.6, 1.65, 1.7, 1.75, 3.0, 3.05])
FACTORS = np.column_stack([np.cos(ANGLES), np.sin(ANGLES)]).astype(np.float32)
LABELS = [f"Film {i}" for i in range(10)]
GENRES = [("Action",)] * 4 + [("Drama", "Sci-Fi")] * 4 + [("Sci-Fi",), ("Sci-Fi", "IMAX")]


MASKS = {g: np.array([g in genres for genres in GENRES]) for g in {"Action", "Drama", "Sci-Fi",
                                                                   "IMAX"}}


def reasons(picks, rated, ratings, k=3):
    return personal_reasons(np.array(picks), np.array(rated), np.array(ratings, dtype=float),
                            Neighbourhoods(FACTORS, k), LABELS, GENRES, MASKS)


def test_neighbourhoods_are_a_share_of_the_catalogue_within_bounds():
    assert neighbour_count(60) == MIN_NEIGHBOURS
    assert neighbour_count(5_000) == 50
    assert neighbour_count(87_000) == MAX_NEIGHBOURS
    assert neighbour_count(4) == 3  # never more than the other films


def test_a_neighbour_is_one_of_the_k_nearest_other_films():
    near = Neighbourhoods(FACTORS, 3)
    # Film 0's three nearest others are 1, 2, 3 (itself is never counted).
    assert near.closest_near(np.array([0, 0, 0]), np.array([3])).tolist() == [0, 0, 0]
    assert near.closest_near(np.array([0]), np.array([4, 5])).tolist() == [-1]
    assert near.closest_near(np.array([0, 9]), np.array([5, 2])).tolist() == [1, -1]
    assert near.closest_near(np.array([0]), np.array([], dtype=np.int64)).tolist() == [-1]


def test_the_closest_loved_neighbour_is_named():
    assert reasons([2], [0, 3, 5], [4.0, 5.0, 5.0]) == ["Because you loved Film 3"]


def test_a_loved_film_that_is_not_a_neighbour_is_not_named():
    # Film 5 is the loved film closest to film 9 of the three, but far from it.
    said = reasons([9], [0, 1, 5], [5.0, 5.0, 4.5])
    assert said == ["Picked for your taste"]


def test_a_close_film_rated_below_four_is_not_named():
    assert reasons([2], [3, 1], [3.5, 3.0]) == ["Picked for your taste"]


def test_the_genre_loved_often_is_said_when_no_loved_film_is_near():
    # Films 4 and 5 (Drama, Sci-Fi) loved; film 9 (Sci-Fi, IMAX) is near neither of them.
    assert reasons([9], [4, 5], [5.0, 4.0], k=1) == ["Like the Sci-Fi films you loved"]
    # One loved Sci-Fi film is not a taste for Sci-Fi; a format is never a genre to love.
    assert reasons([9], [4, 0], [5.0, 4.0], k=1) == ["Picked for your taste"]


@pytest.fixture(scope="module")
def shipped() -> Recommender:
    return Recommender.load(Path(__file__).resolve().parents[2] / "models")


def _people(recommender: Recommender) -> list[dict[int, float]]:
    popular = [m.movie_id for m in recommender.movies()[:60]]
    return [
        # The newcomer: loved The Silence of the Lambs, lukewarm on the rest.
        {593: 5.0, 1: 3.0, 2571: 3.5, 356: 3.0, 260: 2.5},
        {m: 4.0 + (i % 3) / 2 for i, m in enumerate(popular[:20])},
        {m: (5.0 if i % 4 == 0 else 3.0 if i % 4 == 1 else 1.5) for i, m in enumerate(popular)},
    ]


def test_every_named_film_was_loved_and_is_a_neighbour_of_the_pick(shipped):
    """On the shipped model, through ``Recommender.recommend``: a reason that names a film
    names one rated 4 or more among the pick's ``neighbour_count`` nearest films
    (``Recommender.similar``), for plain, filtered and requested lists."""
    k = neighbour_count(shipped.n_movies)
    label = {m.label: m.movie_id for m in shipped.movies()}
    named = 0
    for ratings in _people(shipped):
        for options in ({}, {"genre": "Comedy"}, {"constraints": Constraints(genres=("Drama",))}):
            for item in shipped.recommend(ratings, 20, **options).items:
                person = item.reason.split(" · ")[-1]
                if not person.startswith("Because you"):
                    continue
                film = label[person.removeprefix("Because you loved ")]
                near = {m.movie_id for m, _ in shipped.similar(item.movie_id, k)}
                assert ratings[film] >= POSITIVE_RATING and film in near, item
                named += 1
    assert named >= 10  # the rule leaves films to name


def test_edges_computed_at_once_equal_the_ones_computed_film_by_film():
    """``neighbour_edges`` (stored in a trained model) gives each film the edge that
    ``Neighbourhoods`` computes when the film is first asked about."""
    from ml.serving.reasons import neighbour_edges

    rng = np.random.default_rng(3)
    factors = rng.normal(size=(1300, 8)).astype(np.float32)
    factors /= np.linalg.norm(factors, axis=1, keepdims=True)
    stored = neighbour_edges(factors, 13)
    lazy = Neighbourhoods(factors, 13)
    films = np.array([0, 1, 511, 512, 1299])
    np.testing.assert_allclose(stored[films], lazy.edges(films), rtol=1e-6)
    given = Neighbourhoods(factors, 13, stored)
    np.testing.assert_array_equal(given.closest_near(films, np.array([2, 3, 700])),
                                  lazy.closest_near(films, np.array([2, 3, 700])))
