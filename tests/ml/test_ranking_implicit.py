"""The ranking model: iALS training, its fold-in, and its place in the model directory."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from ml.models.contract import UserRatings
from ml.models.ease import EASE, EaseParams
from ml.models.ials.model import (
    IALS,
    ImplicitParams,
    rotate,
    targets_and_confidence,
)
from ml.models.matrix import RatingMatrix
from ml.serving.artifacts import MANIFEST_FILE, ArtifactError, load_artifact, save_artifact
from ml.serving.ranking import RankingWeights

PARAMS = ImplicitParams(n_factors=6, unobserved_weight=0.3, reg=0.01, n_epochs=6,
                        fold_in_half_ratings=0.0)


def two_audiences(n_users: int = 60, seed: int = 0) -> RatingMatrix:
    """Users 0..n/2 watch films 0–9, the others films 10–19, each about six of them."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(n_users):
        films = rng.choice(10, size=6, replace=False) + (0 if user < n_users // 2 else 10)
        users += [user] * len(films)
        items += films.tolist()
    ratings = np.full(len(users), 4.0)
    return RatingMatrix.build(users, items, ratings, n_users, 20)


def reference_fold_in(model: IALS, idx: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    """The normal equations, solved the plain way: (α0 YᵀY + Y_Rᵀ C Y_R + λ_u I) x = Y_Rᵀ C p."""
    y = model.item_factors.astype(np.float64)
    p, c = targets_and_confidence(ratings, model.rating_confidence, model.dislike_below)
    system = model.unobserved_weight * (y.T @ y) + (y[idx].T * c) @ y[idx]
    system += model.fold_in_ridge(len(idx)) * np.eye(model.rank)
    return np.linalg.solve(system, y[idx].T @ (c * p))


@pytest.fixture(scope="module")
def model() -> IALS:
    return IALS(PARAMS).fit(two_audiences())


def test_a_newcomer_is_recommended_the_films_of_their_audience(model):
    scores = model.scores(model.fold_in(UserRatings.of([0, 1, 2], [5.0, 4.0, 5.0])))
    assert scores[3:10].mean() > scores[10:].mean() + 0.2
    scores[[0, 1, 2]] = -np.inf
    assert set(np.argsort(-scores)[:5].tolist()) <= set(range(3, 10))


@pytest.mark.parametrize("n", [3, 6, 12])
def test_woodbury_and_direct_fold_in_solve_the_same_equations(n):
    rng = np.random.default_rng(n)
    factors = rng.normal(size=(40, 6))
    model = rotate(factors, ImplicitParams(n_factors=6, rating_confidence=0.5, dislike_below=2.0,
                                           fold_in_half_ratings=5.0))
    idx = rng.choice(40, size=n, replace=False)
    ratings = rng.choice([1.0, 2.5, 4.0, 5.0], size=n)
    np.testing.assert_allclose(model.fold_in(UserRatings.of(idx, ratings)),
                               reference_fold_in(model, idx, ratings), rtol=1e-6, atol=1e-9)


def test_rotation_into_the_gram_eigenbasis_leaves_scores_unchanged():
    rng = np.random.default_rng(3)
    factors = rng.normal(size=(30, 5))
    model = rotate(factors, ImplicitParams(n_factors=5))
    np.testing.assert_allclose(model.item_factors @ model.item_factors.T, factors @ factors.T,
                               rtol=1e-4, atol=1e-4)
    gram = model.item_factors.astype(np.float64).T @ model.item_factors
    np.testing.assert_allclose(gram, np.diag(model.gram_eigenvalues), atol=1e-3)


def test_a_hated_film_pushes_its_neighbours_down(model):
    loved = model.scores(model.fold_in(UserRatings.of([0, 10], [5.0, 5.0])))
    hated = model.scores(model.fold_in(UserRatings.of([0, 10], [5.0, 1.0])))
    assert hated[11:20].mean() < loved[11:20].mean()
    assert hated[1:10].mean() > hated[11:20].mean()


def test_targets_and_confidence_follow_the_stars():
    targets, confidence = targets_and_confidence([1.0, 2.0, 3.0, 5.0], 0.5, 2.0)
    assert list(targets) == [0.0, 1.0, 1.0, 1.0]
    assert confidence[3] > confidence[2] > confidence[1] > 0  # loved counts most
    assert confidence[0] == pytest.approx(2.0)  # a 1★ is a confident "not for me"


def test_no_ratings_fold_in_to_the_zero_vector(model):
    assert not model.fold_in(UserRatings.empty()).any()


def test_ease_reference_has_a_zero_diagonal_and_ranks_the_audience_first():
    ease = EASE(EaseParams(l2=5.0)).fit(two_audiences())
    assert not np.diag(ease.weights).any()
    scores = ease.scores(ease.fold_in(UserRatings.of([0, 1, 2], [4.0, 4.0, 4.0])))
    assert scores[3:10].min() > scores[10:].max()


def test_the_ranking_model_round_trips_through_the_model_directory(tiny_model_dir: Path,
                                                                    tmp_path: Path):
    first = load_artifact(tiny_model_dir)
    save_artifact(tmp_path / "again", first)
    second = load_artifact(tmp_path / "again")
    assert first.implicit.n_items == first.model.n_items
    np.testing.assert_array_equal(first.implicit.item_factors, second.implicit.item_factors)
    np.testing.assert_array_equal(first.implicit.gram_eigenvalues,
                                  second.implicit.gram_eigenvalues)
    for name in ("unobserved_weight", "reg", "reg_exponent", "rating_confidence",
                 "dislike_below", "fold_in_half_ratings"):
        assert getattr(first.implicit, name) == getattr(second.implicit, name)
    manifest = json.loads((tiny_model_dir / MANIFEST_FILE).read_text())
    assert manifest["ranking"]["implicit"]["n_factors"] == first.implicit.rank
    assert set(manifest["ranking"]["weights"]) == {f.name for f in fields(RankingWeights)}


def test_a_model_directory_without_the_ranking_model_is_refused(tiny_model_copy: Path):
    """Format 1 had no ranking model: this code names the version instead of guessing."""
    manifest = json.loads((tiny_model_copy / MANIFEST_FILE).read_text())
    manifest["format_version"] = 1
    (tiny_model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format version 1"):
        load_artifact(tiny_model_copy)


def test_the_training_solve_converges_to_the_exact_ridge_solution():
    """Enough conjugate-gradient steps give each row's exact solve; training takes three.

    The per-rating rows are read in float32 (``ml.training.kernels.conjugate_gradient_rows``), so
    the exact solve they converge to is the one on those rounded rows."""
    from ml.models.ials.model import _conjugate_gradient

    rng = np.random.default_rng(3)
    matrix = two_audiences()
    ratings = rng.choice([1.0, 3.0, 4.5, 5.0], len(matrix))
    matrix = RatingMatrix.build(matrix.users, matrix.items, ratings, matrix.n_users, 20)
    params = ImplicitParams(n_factors=5, cg_steps=40)
    fixed = rng.normal(0.0, 0.3, (matrix.n_items, 5))
    target, conf = targets_and_confidence(ratings, params.rating_confidence,
                                          params.dislike_below)
    segments = matrix.by_user
    solved = rng.normal(0.0, 0.1, (matrix.n_users, 5))
    _conjugate_gradient(segments, (conf * target)[segments.order], conf[segments.order], fixed,
                        solved, params)
    alpha = params.unobserved_weight
    for user in range(matrix.n_users):
        rows = segments.other[segments.indptr[user]:segments.indptr[user + 1]]
        order = segments.order[segments.indptr[user]:segments.indptr[user + 1]]
        y, c, p = fixed[rows].astype(np.float32).astype(np.float64), conf[order], target[order]
        ridge = params.reg * (len(rows) + alpha * matrix.n_items) ** params.reg_exponent
        system = alpha * fixed.T @ fixed + (y.T * c) @ y + ridge * np.eye(5)
        np.testing.assert_allclose(solved[user], np.linalg.solve(system, y.T @ (c * p)),
                                   rtol=1e-6, atol=1e-9)
