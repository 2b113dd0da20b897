"""Contracts of the rating model: it learns, it is deterministic, it clips, fold-in agrees."""

from __future__ import annotations

import numpy as np
import pytest

from ml.models.baseline import BiasBaseline
from ml.models.contract import UserRatings
from ml.models.funksvd import FunkSVD, FunkSVDParams, UserVector
from ml.models.funksvd.train import Validation, train_funksvd
from ml.models.matrix import IdMap, RatingMatrix
from ml.rules import RATING_MAX, RATING_MIN
from ml.serving.ranking import top_n_indices
from ml.training.metrics import rmse


def trained(model: FunkSVD, user: int) -> UserVector:
    """Training user ``user``'s own vector and bias."""
    return UserVector(model.user_factors[user], float(model.user_bias[user]))


def planted_low_rank(seed: int = 0, n_users: int = 300, n_items: int = 200, rank: int = 3,
                     density: float = 0.15) -> tuple[RatingMatrix, Validation]:
    """Ratings from a rank-3 matrix plus biases and a little noise; 10% held out."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.8, (n_users, rank)), rng.normal(0, 0.8, (n_items, rank))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.3, n_items)
    full = 3.2 + bu[:, None] + bi[None, :] + p @ q.T + rng.normal(0, 0.1, (n_users, n_items))
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    values = np.clip(full[users, items], RATING_MIN, RATING_MAX)
    test = rng.random(len(users)) < 0.1
    train = RatingMatrix.build(users[~test], items[~test], values[~test], n_users, n_items)
    return train, Validation(users[test], items[test], values[test])


@pytest.mark.parametrize("method", ["gibbs", "als"])
def test_trainer_recovers_a_planted_low_rank_matrix_well_below_the_bias_baseline(method):
    train, held = planted_low_rank()
    params = FunkSVDParams(method=method, n_factors=6, rank=6, n_epochs=40, burn_in=6,
                           reg=0.02, seed=3)
    model = train_funksvd(train, params, progress=False).model
    baseline = BiasBaseline().fit(train)
    model_rmse = rmse(model.predict_pairs(held.users, held.items), held.ratings)
    baseline_rmse = rmse(baseline.predict_pairs(held.users, held.items), held.ratings)
    assert model_rmse < 0.5 * baseline_rmse, (model_rmse, baseline_rmse)


def test_training_is_deterministic_for_a_seed_and_differs_across_seeds():
    train, held = planted_low_rank(n_users=80, n_items=60)
    params = FunkSVDParams(n_factors=3, rank=4, n_epochs=12, burn_in=4, seed=5)
    a = train_funksvd(train, params, held, progress=False).model
    b = train_funksvd(train, params, held, progress=False).model
    c = train_funksvd(train, FunkSVDParams(n_factors=3, rank=4, n_epochs=12, burn_in=4, seed=6),
                      held, progress=False).model
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    np.testing.assert_array_equal(a.user_bias, b.user_bias)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_early_stopping_records_every_sweep_with_train_and_validation_rmse():
    train, held = planted_low_rank(n_users=80, n_items=60)
    params = FunkSVDParams(method="als", n_factors=3, n_epochs=200, patience=3, reg=0.5)
    result = train_funksvd(train, params, held, progress=False)
    assert len(result.history) < 200  # it stopped early
    assert all(h.validation_rmse is not None and h.train_rmse > 0 for h in result.history)
    best = min(h.validation_rmse for h in result.history)
    assert result.history[result.best_epoch - 1].validation_rmse == pytest.approx(best)


def test_predictions_are_clipped_to_the_rating_scale():
    rng = np.random.default_rng(0)
    model = FunkSVD(
        global_mean=3.5, user_factors=rng.normal(0, 5, (4, 3)).astype(np.float32),
        user_bias=np.array([3, -3, 0, 0], dtype=np.float32),
        item_factors=rng.normal(0, 5, (50, 3)).astype(np.float32),
        item_bias=np.zeros(50, dtype=np.float32), fold_in_reg=np.ones(4, dtype=np.float32),
    )
    raw = model.scores(trained(model, 0))
    assert raw.max() > RATING_MAX or raw.min() < RATING_MIN  # the raw scores do overflow
    for user in range(4):
        pred = model.predict(trained(model, user))
        assert pred.min() >= RATING_MIN and pred.max() <= RATING_MAX
    pairs = model.predict_pairs(np.repeat(np.arange(4), 50), np.tile(np.arange(50), 4))
    assert pairs.min() >= RATING_MIN and pairs.max() <= RATING_MAX


def test_fold_in_of_a_training_user_gives_nearly_the_same_top_10():
    """The posterior-mean vector from training vs fold-in from the same ratings."""
    train, _ = planted_low_rank(n_users=200, n_items=300, density=0.2)
    params = FunkSVDParams(n_factors=4, rank=8, n_epochs=30, burn_in=6, seed=2)
    model = train_funksvd(train, params, progress=False).model
    seg = train.by_user
    overlaps = []
    for user in range(0, 200, 5):
        rows = slice(seg.indptr[user], seg.indptr[user + 1])
        rated = seg.other[rows]
        folded = model.fold_in(UserRatings.of(rated, train.ratings[seg.order[rows]]))
        trained_top = set(top_n_indices(model.predict(trained(model, user)), 10,
                                        exclude=rated))
        folded_top = set(top_n_indices(model.predict(folded), 10, exclude=rated))
        overlaps.append(len(trained_top & folded_top) / 10)
    assert np.mean(overlaps) >= 0.8, np.mean(overlaps)


def test_fold_in_with_no_ratings_is_the_mean_user_and_validates_shapes():
    model = FunkSVD(global_mean=3.0, user_factors=np.zeros((1, 2), np.float32),
                    user_bias=np.zeros(1, np.float32), item_factors=np.ones((5, 2), np.float32),
                    item_bias=np.zeros(5, np.float32), fold_in_reg=np.ones(3, np.float32))
    empty = model.fold_in(UserRatings.empty())
    assert isinstance(empty, UserVector) and empty.bias == 0.0
    assert not empty.factors.any()
    with pytest.raises(ValueError):
        model.fold_in(UserRatings.of([0, 1], [4.0]))


def test_id_map_is_a_bijection_with_minus_one_for_unknown_ids():
    ids = IdMap.from_values([50, 7, 7, 1000])
    assert list(ids.ids) == [7, 50, 1000]
    assert [ids.index(v) for v in (7, 50, 1000)] == [0, 1, 2]
    assert list(ids.indices([1000, 8, 7])) == [2, -1, 0]
    assert 8 not in ids and 50 in ids
    with pytest.raises(KeyError):
        ids.index(8)


def test_the_compiled_sweep_passes_equal_their_numpy_expressions():
    """A sweep's right-hand sides (r − μ − b_other in segment order) and the pass after it
    (squared residuals, the running average, the reported errors) give the numbers of the
    plain numpy expressions they replace."""
    from ml.training.kernels import prediction_errors, sorted_targets

    train, _ = planted_low_rank(seed=4)
    rng = np.random.default_rng(4)
    mu = float(train.ratings.mean())
    user_bias, item_bias = rng.normal(size=train.n_users), rng.normal(size=train.n_items)
    p, q = rng.normal(size=(train.n_users, 5)), rng.normal(size=(train.n_items, 5))
    for segments, bias, other in ((train.by_user, item_bias, train.items),
                                  (train.by_item, user_bias, train.users)):
        expected = (train.ratings - mu - bias[other])[segments.order].astype(np.float32)
        got = sorted_targets(train.ratings, segments.order, segments.other, mu, bias)
        np.testing.assert_array_equal(got, expected)
    predicted = (mu + user_bias[train.users] + item_bias[train.items]
                 + np.einsum("ij,ij->i", p[train.users], q[train.items]))
    running = rng.normal(3.0, 1.0, len(train)) * 4
    for keep, n_samples in ((False, 0), (True, 5), (False, 4)):
        before = running.copy()
        residual_sq, reported_sq = prediction_errors(
            train.users, train.items, train.ratings, mu, user_bias, item_bias, p, q, running,
            keep, n_samples, RATING_MIN, RATING_MAX)
        np.testing.assert_allclose(running, before + predicted if keep else before)
        shown = running / n_samples if n_samples else predicted
        assert residual_sq == pytest.approx(float(((train.ratings - predicted) ** 2).sum()))
        assert reported_sq == pytest.approx(float(
            ((np.clip(shown, RATING_MIN, RATING_MAX) - train.ratings) ** 2).sum()))
