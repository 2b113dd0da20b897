"""The one model contract (``ml.models.contract``), run against every model in ``ml.models``.

Each model is fitted on the planted ratings of tests/synthetic.py (action fans and romance fans,
lukewarm comedies) and must keep the same promises: one float per item, rated items never
recommended, an arrays round trip that changes no score (for the models a model directory
holds), a training user's fold-in close to their trained state, and neighbours that exclude the
item. The ranking model is also held to the fold-in the service uses (films skipped as "haven't
seen it", the newcomer's ridge): the ``Recommender`` and the model contract fold in through the
same model, so evaluation through the contract is what serving does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.models import (
    EASE,
    IALS,
    BiasBaseline,
    EaseParams,
    FunkSVD,
    Popularity,
    PopularityParams,
    SparseEaseParams,
)
from ml.models.contract import (
    Model,
    NotFittedError,
    UserRatings,
    recommend,
)
from ml.models.funksvd.model import FunkSVDParams, UserVector
from ml.models.ials.model import ImplicitParams
from ml.models.matrix import IdMap, RatingMatrix
from ml.rules import POSITIVE_RATING, RATING_MAX, RATING_MIN
from ml.serving.artifacts import load_artifact
from ml.serving.ranking import RankingWeights
from ml.serving.recommender import Recommender
from tests.synthetic import planted_ratings

FACTORIES = {
    "funksvd": lambda: FunkSVD(FunkSVDParams(n_factors=4, rank=8, n_epochs=30, burn_in=6,
                                             seed=1)),
    "ials": lambda: IALS(ImplicitParams(n_factors=8, n_epochs=6)),
    "ease": lambda: EASE(EaseParams(l2=50.0)),
    "ease_sparse": lambda: EASE(SparseEaseParams(l2_per_user=0.25, neighbours=30)),
    "popularity": lambda: Popularity(),
    "popularity_count": lambda: Popularity(PopularityParams(order="count")),
    "bias_baseline": lambda: BiasBaseline(),
}
#: Models that keep a state per training user, and whose scores are ratings (``predict_pairs``).
TRAINED_USERS = ("funksvd", "bias_baseline")
#: The models a model directory holds, as the arrays ``ml.serving.artifacts`` writes.
PERSISTED = ("funksvd", "ials", "ease", "ease_sparse")
#: Models whose scores follow a user's taste in the planted data: those that read the stars.
#: (Both audiences pick films alike, so EASE, which sees only which films were rated, cannot
#: tell them apart here; popularity and the baseline are not personal.)
PERSONAL = ("funksvd", "ials")


@pytest.fixture(scope="module")
def matrix() -> RatingMatrix:
    ratings = planted_ratings()
    users = IdMap.from_values(ratings["user_id"].to_numpy())
    items = IdMap.from_values(ratings["movie_id"].to_numpy())
    return RatingMatrix.build(users.indices(ratings["user_id"].to_numpy()),
                              items.indices(ratings["movie_id"].to_numpy()),
                              ratings["rating"].to_numpy(np.float64), len(users), len(items))


@pytest.fixture(scope="module", params=list(FACTORIES))
def fitted(request: pytest.FixtureRequest, matrix: RatingMatrix) -> tuple[str, Model]:
    return request.param, FACTORIES[request.param]().fit(matrix)


def training_user(matrix: RatingMatrix, user: int) -> UserRatings:
    """The ratings ``matrix`` holds for training user ``user``."""
    start, stop = matrix.by_user.indptr[user], matrix.by_user.indptr[user + 1]
    order = matrix.by_user.order[start:stop]
    return UserRatings.of(matrix.by_user.other[start:stop], matrix.ratings[order])


def trained_state(model: Model, user: int) -> object:
    """A training user's own state: FunkSVD's vector and bias, the baseline's bias."""
    if isinstance(model, FunkSVD):
        return UserVector(model.user_factors[user], float(model.user_bias[user]))
    assert isinstance(model, BiasBaseline)
    return float(model.user_bias[user])


def users_of(matrix: RatingMatrix, count: int = 12) -> list[UserRatings]:
    """Training users from both audiences (users are 0..99 action fans, 100..199 romance)."""
    picked = np.linspace(0, matrix.n_users - 1, count).astype(int)
    return [training_user(matrix, int(u)) for u in picked]


def test_every_model_keeps_the_protocol(fitted):
    _, model = fitted
    assert isinstance(model, Model)


def test_scores_are_one_float_per_item_for_users_and_newcomers(fitted, matrix):
    _, model = fitted
    assert model.n_items == matrix.n_items
    for user in [*users_of(matrix, 3), UserRatings.empty(), UserRatings.of([0], [4.0])]:
        scores = model.scores(model.fold_in(user))
        assert scores.shape == (matrix.n_items,)
        assert np.issubdtype(scores.dtype, np.floating)
        assert np.isfinite(scores).all()


def test_rated_items_are_never_recommended(fitted, matrix):
    _, model = fitted
    for user in users_of(matrix):
        best, scores = recommend(model, user, matrix.n_items)
        assert len(best) == matrix.n_items - len(user)  # everything else, nothing rated
        assert not set(best.tolist()) & set(user.items.tolist())
        assert len(set(best.tolist())) == len(best)
        assert (np.diff(scores) <= 0).all()  # best first


def test_filters_apply_before_the_cut(fitted, matrix):
    _, model = fitted
    user = users_of(matrix, 1)[0]
    allowed = np.zeros(matrix.n_items, dtype=bool)
    allowed[::3] = True
    best, _ = recommend(model, user, 5, allowed=allowed)
    assert len(best) == 5 and allowed[best].all()


def test_the_arrays_round_trip_changes_no_score(fitted, matrix):
    name, model = fitted
    if name not in PERSISTED:
        return
    loaded = type(model).from_arrays(model.arrays(), model.params)
    assert type(loaded) is type(model) and loaded.params == model.params
    for user in users_of(matrix, 4):
        # Same arrays; only float32 summation order may differ (memory layout after loading).
        np.testing.assert_allclose(loaded.scores(loaded.fold_in(user)),
                                   model.scores(model.fold_in(user)), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(loaded.similar_items(3, 5)[0], model.similar_items(3, 5)[0])


def test_fold_in_of_a_training_user_approximates_their_trained_state(fitted, matrix):
    name, model = fitted
    if name not in TRAINED_USERS:
        # iALS, EASE and popularity keep no trained user state: the fold-in is the state.
        assert name in ("ials", "ease", "ease_sparse", "popularity", "popularity_count")
        return
    assert model.n_users == matrix.n_users
    for user in range(0, matrix.n_users, 17):
        ratings = training_user(matrix, user)
        folded = model.scores(model.fold_in(ratings))
        trained = model.scores(trained_state(model, user))
        assert np.corrcoef(folded, trained)[0, 1] > 0.95
        assert np.abs(folded - trained).mean() < 0.25  # a quarter star, on average


def test_personal_models_rank_a_users_liked_films_above_the_rest(fitted, matrix):
    name, model = fitted
    if name not in PERSONAL:
        return
    for user in users_of(matrix):
        scores = model.scores(model.fold_in(user))
        liked = user.items[user.ratings >= POSITIVE_RATING]
        others = np.setdiff1d(np.arange(matrix.n_items), user.items)
        # Films of the user's audience that they have not rated outrank the other audience's.
        genre = liked // 20  # planted items: 0–19 action, 20–39 romance, 40–59 comedy
        own = others[others // 20 == np.bincount(genre).argmax()]
        other_side = others[(others // 20 != np.bincount(genre).argmax()) & (others < 40)]
        assert scores[own].mean() > scores[other_side].mean()


def test_rating_models_predict_pairs_as_their_clipped_scores(fitted, matrix):
    name, model = fitted
    if name not in TRAINED_USERS:
        return
    users, items = matrix.users[:50], matrix.items[:50]
    predicted = model.predict_pairs(users, items)
    assert predicted.shape == (50,)
    assert (predicted >= RATING_MIN).all() and (predicted <= RATING_MAX).all()
    expected = [model.scores(trained_state(model, int(u)))[i]
                for u, i in zip(users, items, strict=True)]
    np.testing.assert_allclose(predicted, np.clip(expected, RATING_MIN, RATING_MAX), atol=1e-4)


def test_similar_items_exclude_the_item_and_come_best_first(fitted, matrix):
    _, model = fitted
    for item in (0, 25, matrix.n_items - 1):
        best, scores = model.similar_items(item, 10)
        assert len(best) == 10 and item not in best.tolist()
        assert len(set(best.tolist())) == 10
        assert (np.diff(scores) <= 0).all()


def test_an_unfitted_model_says_so():
    for factory in FACTORIES.values():
        with pytest.raises(NotFittedError, match="call fit"):
            factory().scores(None)


def test_ties_at_the_cut_are_decided_by_index():
    users, items = np.divmod(np.arange(24), 6)  # 4 users rate all 6 items: every count ties
    even = RatingMatrix.build(users, items, np.full(24, 4.0), 4, 6)
    flat = Popularity(PopularityParams(order="count")).fit(even)
    user = UserRatings.of([0, 2], [4.0, 4.0])
    np.testing.assert_array_equal(recommend(flat, user, 3)[0], [1, 3, 4])


def test_skipped_films_change_only_the_models_that_read_them(fitted, matrix):
    """Skips are a signal for iALS (once served) and ignored by every other model."""
    name, model = fitted
    user = UserRatings.of([0, 1, 2], [5.0, 4.5, 5.0])
    skipping = UserRatings.of(user.items, user.ratings, [3, 4, 5, 6])
    if name == "ials":
        weights = RankingWeights()
        model = model.serving(weights.fold_in_half_ratings, weights.skip_confidence)
    plain, skipped = model.scores(model.fold_in(user)), model.scores(model.fold_in(skipping))
    if name != "ials":
        np.testing.assert_array_equal(plain, skipped)
        return
    # Action films 3–6 skipped: they fall, and so do the action films chosen by the same
    # people (7–19), while the liked films 0–2 still say "action".
    assert skipped[3:7].mean() < plain[3:7].mean()
    assert skipped[7:20].mean() < plain[7:20].mean()


def test_the_served_ranking_fold_in_is_the_contract_models(fitted, matrix):
    """A served iALS round-trips with its settings, and a film both rated and skipped counts
    as rated; skips alone fold in to nothing."""
    name, model = fitted
    if name != "ials":
        return
    served = model.serving(2.0, 30.0)
    user = UserRatings.of([0, 1, 2], [5.0, 4.5, 5.0], [2, 3, 4])
    loaded = IALS.from_arrays(served.arrays())
    np.testing.assert_allclose(loaded.fold_in(user), served.fold_in(user), rtol=1e-6)
    np.testing.assert_allclose(served.fold_in(user),
                               served.fold_in(UserRatings.of(user.items, user.ratings, [3, 4])))
    assert not served.fold_in(UserRatings.of([], [], [3, 4])).any()


def test_the_recommender_folds_in_through_the_artifacts_contract_model(tiny_model_dir: Path):
    """The contract model with the manifest's fold-in settings and serving give the same user
    vector, skips and newcomer ridge included."""
    artifact = load_artifact(tiny_model_dir)
    recommender = Recommender(artifact)
    ratings = {1: 5.0, 2: 4.5, 3: 5.0, 101: 1.0, 4: 4.0}
    skipped = [5, 6, 7, 102]
    items = artifact.items.indices(list(ratings))
    user = UserRatings.of(items, list(ratings.values()), artifact.items.indices(skipped))
    served = recommender.profile(ratings, skipped).choice_vector
    weights = artifact.ranking_weights
    assert weights.skip_confidence > 0
    contract = artifact.implicit.serving(weights.fold_in_half_ratings, weights.skip_confidence)
    np.testing.assert_allclose(contract.fold_in(user), served, rtol=1e-9)
    unskipped = recommender.profile(ratings).choice_vector
    assert not np.allclose(served, unskipped)
