"""At most two films of one franchise in a list; franchises found from titles and factors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import ml.serving.diversity
from ml.serving.diversity import (
    MAX_CANDIDATES_PER_PICK,
    MAX_PER_CLUSTER,
    capped_from_order,
    capped_top_n,
    franchise_clusters,
    title_stem,
)
from ml.serving.ranking import top_n_indices
from ml.serving.recommender import Recommender


@pytest.mark.parametrize("title, stem", [
    ("Star Wars: Episode V - The Empire Strikes Back (1980)", "star wars"),
    ("Toy Story 2 (1999)", "toy story"),
    ("Aliens (1986)", "alien"),
    ("Alien³ (1992)", "alien"),
    ("Godfather: Part II, The (1974)", "godfather"),
    ("The Godfather: Part II", "godfather"),
    ("Star Trek II: The Wrath of Khan (1982)", "star trek"),
    ("Back to the Future Part III (1990)", "back to the future"),
    ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", "city of lost children"),
    ("2001: A Space Odyssey (1968)", "2001"),
])
def test_title_stems_drop_years_articles_subtitles_numbers_and_plurals(title, stem):
    assert title_stem(title) == stem


def test_a_longer_title_joins_a_franchise_only_when_its_audience_agrees():
    titles = ["Matrix, The", "Matrix Reloaded, The", "Alien", "Alien Nation", "Aliens"]
    unit = np.array([[1, 0], [0.9, 0.436], [0, 1], [1, 0], [0.1, 0.995]])
    clusters = franchise_clusters(titles, unit)
    assert clusters[0] == clusters[1]  # prefix + cosine 0.9
    assert clusters[2] == clusters[4]  # same stem, whatever the factors say
    assert clusters[3] != clusters[2]  # prefix, but cosine 0: another film
    assert len(set(franchise_clusters(titles).tolist())) == 4  # no factors: stems only


def test_the_cap_keeps_two_per_cluster_in_score_order():
    scores = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0])
    clusters = np.array([0, 0, 0, 1, 1, 1, 2])
    assert list(capped_top_n(scores, 4, clusters)) == [0, 1, 3, 4]
    assert list(capped_top_n(scores, 4, clusters, exclude=[0])) == [1, 2, 3, 4]
    allowed = np.array([True, True, True, False, False, False, True])
    assert list(capped_top_n(scores, 3, clusters, allowed=allowed)) == [0, 1, 6]


def test_the_cap_fills_from_capped_films_only_when_nothing_else_is_left():
    scores = np.array([3.0, 2.0, 1.0, 0.5])
    clusters = np.zeros(4, dtype=np.int64)
    assert list(capped_top_n(scores, 3, clusters)) == [0, 1, 2]


def test_the_pool_grows_until_the_list_is_full():
    clusters = np.repeat(np.arange(5), 20)  # five franchises of twenty, best-scored first
    scores = -np.arange(100, dtype=np.float64)
    picked = capped_top_n(scores, 10, clusters)
    assert len(picked) == 10
    assert max(Counter(clusters[picked].tolist()).values()) == MAX_PER_CLUSTER


@pytest.mark.parametrize("n", [1, 10, 40])
def test_the_worst_case_examines_a_bounded_number_of_candidates(n, monkeypatch):
    """Every film one franchise: the cap must not walk the whole 87k-film catalogue."""
    n_items = 87_000
    scores = np.random.default_rng(n).random(n_items)
    clusters = np.zeros(n_items, dtype=np.int64)
    asked: list[int] = []

    def recording_top_n(*args, **kwargs):
        asked.append(args[1])
        return top_n_indices(*args, **kwargs)

    monkeypatch.setattr(ml.serving.diversity, "top_n_indices", recording_top_n)
    picked = capped_top_n(scores, n, clusters, exclude=[int(np.argmax(scores))])
    assert max(asked) <= MAX_CANDIDATES_PER_PICK * n
    # The two best that are not excluded come first, then the list is filled in score order.
    assert picked.tolist() == top_n_indices(scores, n, exclude=[int(np.argmax(scores))]).tolist()
    order = np.argsort(-scores, kind="stable")
    assert capped_from_order(order, n, clusters).tolist() == order[:n].tolist()


@pytest.mark.parametrize("seed", range(20))
def test_a_precomputed_order_gives_the_same_list_as_its_scores(seed: int):
    """The popularity path walks a sorted order; it must pick what ranking the scores would."""
    rng = np.random.default_rng(seed)
    n_items = 300
    clusters = rng.integers(0, 40, n_items)
    scores = rng.permutation(n_items).astype(np.float64)
    order = np.argsort(-scores)
    exclude = rng.choice(n_items, rng.integers(0, 60), replace=False)
    allowed = rng.random(n_items) < rng.choice([0.03, 0.3, 1.0])
    for n in (1, 10, 50):
        for cap_clusters in (clusters, None):
            expected = (capped_top_n(scores, n, clusters, exclude=exclude, allowed=allowed)
                        if cap_clusters is not None else
                        top_n_indices(scores, n, exclude=exclude, allowed=allowed))
            got = capped_from_order(order, n, cap_clusters, exclude=exclude, allowed=allowed)
            assert got.tolist() == expected.tolist()


def test_served_lists_hold_at_most_two_films_of_a_franchise(tiny_model_dir: Path):
    """The planted titles ("Action Film 7") make each genre one franchise: the cap shows."""
    recommender = Recommender.load(tiny_model_dir)
    fan = {1: 5.0, 2: 5.0, 3: 4.5, 4: 5.0, 5: 4.5, 101: 1.0, 102: 1.5}
    for ratings in ({}, fan):
        items = recommender.recommend(ratings, 6).items
        clusters = Counter(int(recommender.clusters[recommender.items.index(r.movie_id)])
                           for r in items)
        assert len(items) == 6 and max(clusters.values()) <= MAX_PER_CLUSTER
        uncapped = recommender.recommend(ratings, 6, diversify=False).items
        assert max(Counter(int(recommender.clusters[recommender.items.index(r.movie_id)])
                           for r in uncapped).values()) > MAX_PER_CLUSTER


def test_real_franchises_are_clustered(shared_data: Path):
    from ml.data import load_dataset

    titles = load_dataset(shared_data / "ml-1m").movies["title"].tolist()
    clusters = franchise_clusters(titles)
    by_title = dict(zip(titles, clusters.tolist(), strict=True))
    star_wars = [t for t in titles if t.startswith("Star Wars: Episode")]
    assert len(star_wars) >= 3 and len({by_title[t] for t in star_wars}) == 1
    assert by_title["Toy Story"] == by_title["Toy Story 2"]
    assert by_title["Alien"] == by_title["Aliens"]
    assert by_title["Toy Story"] != by_title["Alien"]
