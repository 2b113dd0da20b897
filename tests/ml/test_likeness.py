""""Like X but Y" in what films are: genre likeness and the order it gives a request's list."""

from __future__ import annotations

import numpy as np

from ml.serving.likeness import GenreSpace, request_scores

FILMS = [
    ("Horror", "Sci-Fi"),             # 0: the reference, Alien-like
    ("Comedy", "Horror", "Sci-Fi"),   # 1: a comedy with its whole premise
    ("Comedy", "Sci-Fi"),             # 2: half of it
    ("Comedy", "Drama"),              # 3: none of it
    ("Comedy",),                      # 4: none of it
    ("Drama",), ("Drama",), ("Drama", "Romance"), ("Drama", "IMAX"),
]


def test_likeness_ranks_films_by_the_reference_genres_not_asked_for():
    space = GenreSpace(FILMS)
    like = space.likeness(np.array([0]), asked=("Comedy",))
    assert like[1] > like[2] > like[3] == like[4] == 0.0
    assert np.isclose(like[1], 1.0)  # Comedy is asked, so it is not part of the likeness


def test_rare_genres_weigh_more_and_formats_not_at_all():
    films = [("Drama", "Romance"), ("Drama",), ("Romance",), ("Drama", "IMAX"), ("Drama",),
             ("Drama",), ("Comedy",)]
    space = GenreSpace(films)
    like = space.likeness(np.array([0]))
    assert like[2] > like[1] > 0.0  # Romance is rarer than Drama: it says more
    assert like[3] == like[1] and like[6] == 0.0
    assert "IMAX" not in space.genres


def test_a_reference_with_no_other_genre_leaves_the_order_alone():
    space = GenreSpace(FILMS)
    assert not space.likeness(np.array([4]), asked=("Comedy",)).any()
    base = np.arange(9, dtype=float)
    passing = np.ones(9, dtype=bool)
    flat = np.zeros(9)
    order = np.argsort(-request_scores(base, flat, flat, flat, passing))
    assert order.tolist() == list(range(8, -1, -1))


def test_likeness_outweighs_a_small_lead_in_the_persons_score():
    space = GenreSpace(FILMS)
    comedies = np.array([False, True, True, True, True, False, False, False, False])
    like = space.likeness(np.array([0]), asked=("Comedy",))
    base = np.array([0.0, 0.0, 0.0, 0.3, 0.3, 0, 0, 0, 0])  # the plain comedies lead a bit
    flat = np.zeros(9)
    score = request_scores(base, like, flat, flat, comedies)
    assert score[1] > score[2] > max(score[3], score[4])
