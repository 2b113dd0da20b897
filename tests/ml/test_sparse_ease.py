"""The ranking's item-item term: pruned rating-weighted EASE, exact when nothing is pruned."""

from __future__ import annotations

import numpy as np
import pytest

from ml.models.contract import UserRatings
from ml.models.ease import EASE, SparseEaseParams
from ml.models.ease.sparse import SparseEase, fit_sparse_ease
from ml.models.matrix import RatingMatrix


def _ratings(seed: int = 0, n_users: int = 120, n_items: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    popular = rng.random(n_items) ** 2  # uneven counts, so "the head" means something
    seen = rng.random((n_users, n_items)) < 0.1 + 0.5 * popular
    return seen * rng.integers(1, 6, (n_users, n_items))


def _matrix(x: np.ndarray) -> RatingMatrix:
    users, items = np.nonzero(x)
    return RatingMatrix.build(users, items, x[users, items].astype(np.float64), *x.shape)


def _fit(x: np.ndarray, params: SparseEaseParams) -> EASE:
    return EASE(params).fit(_matrix(x))


def _scores(model: EASE, items: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    return model.scores(model.fold_in(UserRatings.of(items, ratings)))


def _dense_ease(x: np.ndarray, l2: float) -> np.ndarray:
    gram = x.T.astype(np.float64) @ x
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = precision / -np.diag(precision)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


def test_unpruned_scores_are_rating_weighted_ease():
    """With every film in the head and every neighbour kept, a user's scores are x_u B of
    EASE on the rating-weighted matrix, λ = l2_per_user × users."""
    x = _ratings()
    params = SparseEaseParams(l2_per_user=0.4, max_items=1000, neighbours=1000)
    model = _fit(x, params)
    b = _dense_ease(x, 0.4 * x.shape[0])
    for user in (0, 7, 33):
        rated = np.flatnonzero(x[user])
        # Weights are float16: each term carries a relative error of at most 2^-11.
        bound = 2.0**-11 * (np.abs(x[user]) @ np.abs(b)) + 1e-5
        assert np.all(np.abs(_scores(model, rated, x[user, rated]) - x[user] @ b) <= bound)


def test_each_head_film_keeps_its_strongest_sources_and_nothing_leaves_the_head():
    x = _ratings(1)
    model = _fit(x, SparseEaseParams(l2_per_user=0.4, max_items=25, neighbours=6))
    assert model.sparse is not None
    counts = np.count_nonzero(x, axis=0)
    head = np.sort(np.argsort(-counts, kind="stable")[:25])
    lengths = np.diff(model.sparse.indptr)
    assert set(np.flatnonzero(lengths)) <= set(head.tolist())
    assert lengths.sum() == 25 * 6
    assert set(model.sparse.indices.tolist()) <= set(head.tolist())
    # Film j's kept weights are the 6 largest |B[i, j]| of the head's EASE.
    b = _dense_ease(x[:, head], 0.4 * x.shape[0])
    sources = np.repeat(np.arange(model.n_items), lengths)
    for position in (0, 11, 24):
        film = head[position]
        kept = model.sparse.weights[model.sparse.indices == film]
        assert len(kept) == 6 and set(sources[model.sparse.indices == film]) <= set(head.tolist())
        np.testing.assert_allclose(np.sort(np.abs(kept)), np.sort(np.abs(b[:, position]))[-6:],
                                   rtol=2.0**-11)


def test_a_user_with_no_head_film_scores_zero_and_arrays_round_trip():
    x = _ratings(2)
    model = _fit(x, SparseEaseParams(max_items=5, neighbours=3))
    tail = np.argsort(-np.count_nonzero(x, axis=0), kind="stable")[-3:]
    assert not _scores(model, tail, np.full(3, 5.0)).any()
    again = EASE.from_arrays(model.arrays())
    rated = np.flatnonzero(x[4])
    np.testing.assert_array_equal(_scores(again, rated, x[4, rated]),
                                  _scores(model, rated, x[4, rated]))


def test_parameters_must_be_positive():
    with pytest.raises(ValueError):
        SparseEaseParams(neighbours=0)


def test_a_long_history_reads_each_rows_strongest_weights_within_the_budget(monkeypatch):
    """Above the per-request budget every rated row is cut to the same share, strongest
    weights kept: the result is the exact sum over those weights."""
    import ml.models.ease.sparse as sparse_ease

    x = _ratings(3)
    model = _fit(x, SparseEaseParams(l2_per_user=0.4, neighbours=30))
    assert model.sparse is not None
    rated = np.flatnonzero(x[5])
    monkeypatch.setattr(sparse_ease, "WEIGHTS_PER_REQUEST", 4 * len(rated))
    expected = np.zeros(model.n_items)
    for item, rating in zip(rated, x[5, rated], strict=True):
        start, stop = model.sparse.indptr[item], model.sparse.indptr[item + 1]
        row = slice(start, start + 4)
        assert np.all(np.abs(model.sparse.weights[row]) >= np.abs(
            model.sparse.weights[start + 4:stop]).max())
        np.add.at(expected, model.sparse.indices[row], rating * model.sparse.weights[row])
    np.testing.assert_allclose(_scores(model, rated, x[5, rated]), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 10**6])
def test_scores_gathered_in_steps_are_one_bincount_to_the_bit(monkeypatch, chunk):
    """However many steps the gather takes (runs of whole rows, each row cut to its share of
    the budget), a user's scores are, bit for bit, one ``bincount`` of every kept product
    (float16 weight × float32 rating, summed in float64 in row order)."""
    from ml.models.ease import sparse as sparse_ease

    rng = np.random.default_rng(8)
    # Rows of uneven lengths, some empty, cut by the budget; weights over float16's range.
    n_items, head = 60, np.sort(rng.choice(60, 3, replace=False))
    lengths = np.where(rng.random(n_items) < 0.8, rng.integers(1, 40, n_items), 0)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    weights = rng.choice([-1.0, 1.0], indptr[-1]) * 10.0 ** rng.uniform(-7, 4.5, indptr[-1])
    model = SparseEase(indptr, head, rng.integers(0, len(head), indptr[-1]).astype(np.uint16),
                       weights.astype(np.float16))
    monkeypatch.setattr(sparse_ease, "GATHER_CHUNK", chunk)
    monkeypatch.setattr(sparse_ease, "WEIGHTS_PER_REQUEST", 300)
    # One target film, one weight a row: 2^17, two products far below its last bit, then
    # -2^17. Summed in row order the small ones are rounded on 2^17's grid; a run of two
    # rows summed apart rounds the second on a finer grid, and the float32 score moves.
    cancelling = SparseEase(np.arange(5), np.array([0]), np.zeros(4, dtype=np.uint16),
                            np.array([2.0**15, 2.0**-24, 2.0**-24, -2.0**15], dtype=np.float16))
    ratings = np.array([4.0, 1.3, 1.3, 4.0])
    expected = np.bincount(cancelling.targets,
                           weights=cancelling.weights * ratings.astype(np.float32))
    assert cancelling.head_scores(np.arange(4), ratings).tobytes() == expected.astype(
        np.float32).tobytes()
    for _ in range(20):
        rated = rng.choice(n_items, int(rng.integers(1, n_items)), replace=False)
        ratings = rng.uniform(0.5, 5.0, len(rated))  # not only half stars: any rounding shows
        kept = np.diff(indptr)[rated]
        if kept.sum() > 300:
            kept = np.minimum(kept, max(300 // np.count_nonzero(kept), 1))
        positions = np.concatenate([np.arange(indptr[i], indptr[i] + k)
                                    for i, k in zip(rated, kept, strict=True)]).astype(np.int64)
        products = model.weights[positions] * np.repeat(ratings.astype(np.float32), kept)
        expected = np.bincount(model.targets[positions], weights=products,
                               minlength=len(head)).astype(np.float32)
        got = model.head_scores(rated, ratings)
        if kept.sum() == 0:
            assert got is None
        else:
            assert got is not None and got.tobytes() == expected.tobytes()


def test_the_shipped_format_carries_the_term_and_older_models_load_without_it(
        tiny_model_dir, tmp_path):
    """A trained model directory holds the item-item arrays and serves them; one written
    without them (an older model) loads with no such term and still ranks."""
    from dataclasses import replace

    from ml.serving.artifacts import load_artifact, save_artifact
    from ml.serving.recommender import Recommender

    artifact = load_artifact(tiny_model_dir)
    assert artifact.item_item is not None and artifact.item_item.n_items == artifact.model.n_items
    assert "item_item" in artifact.manifest["ranking"]
    lover = {m: 5.0 for m in range(1, 8)} | {m: 1.0 for m in range(101, 104)}
    with_term = Recommender(artifact).recommend(lover, 5)

    older = save_artifact(tmp_path / "older", replace(artifact, item_item=None))
    reloaded = load_artifact(older)
    assert reloaded.item_item is None
    without = Recommender(reloaded).recommend(lover, 5)
    assert len(without.items) == len(with_term.items) == 5
    # The term is served: the same films score differently with it.
    assert [r.score for r in with_term.items] != [r.score for r in without.items]


def test_each_film_keeps_fewer_sources_within_the_weight_budget():
    params = SparseEaseParams(neighbours=1000, max_weights=4_000_000)
    assert params.sources_per_film(8000) == 500
    assert params.sources_per_film(3700) == 1000
    assert params.sources_per_film(40) == 39  # never more than the other head films
    x = _ratings(4)
    model = fit_sparse_ease(_matrix(x), SparseEaseParams(neighbours=30, max_weights=200))
    assert len(model.weights) == 40 * 5  # 200 weights / 40 head films


def test_the_stored_layout_is_16_bit_positions_and_float16_weights():
    """Targets are head positions (uint16 up to 65,536 head films), saved as gaps in position
    order with float16 weights; loading restores each row's strongest-first order exactly."""
    x = _ratings(5)
    model = fit_sparse_ease(_matrix(x), SparseEaseParams(l2_per_user=0.4, neighbours=12))
    assert model.targets.dtype == np.uint16 and model.weights.dtype == np.float16
    arrays = model.arrays()
    assert arrays["target_gaps"].dtype == np.uint16
    assert arrays["sorted_weights"].dtype == np.float16
    assert "indices" not in arrays
    again = SparseEase.from_arrays(arrays)
    np.testing.assert_array_equal(again.indptr, model.indptr)
    np.testing.assert_array_equal(again.targets, model.targets)
    np.testing.assert_array_equal(again.weights, model.weights)
    for item in range(model.n_items):
        row = np.abs(model.weights[model.indptr[item]:model.indptr[item + 1]].astype(float))
        assert np.all(np.diff(row) <= 0)


def test_a_format_2_term_loads_and_scores_as_it_was_written():
    """Format 2 stored catalogue indices (int32) and float32 weights, strongest first."""
    x = _ratings(6)
    model = fit_sparse_ease(_matrix(x), SparseEaseParams(l2_per_user=0.4, neighbours=12),
                            weight_dtype=np.float32)
    legacy = {"indptr": model.indptr, "indices": model.indices.astype(np.int32),
              "weights": model.weights.astype(np.float32)}
    loaded = SparseEase.from_arrays(legacy)
    assert loaded.weights.dtype == np.float32
    rated = np.flatnonzero(x[3])
    expected = np.zeros(model.n_items)
    for item, rating in zip(rated, x[3, rated], strict=True):
        row = slice(model.indptr[item], model.indptr[item + 1])
        np.add.at(expected, legacy["indices"][row], rating * legacy["weights"][row])
    np.testing.assert_allclose(loaded.scores(rated, x[3, rated]), expected, rtol=1e-5,
                               atol=1e-6)


def test_a_format_2_model_directory_still_loads(tiny_model_copy):
    """A model directory of format 2 (the item-item term as catalogue indices and float32)
    loads, and ranks with the same term."""
    import json

    from ml.serving.artifacts import (
        FACTORS_FILE,
        MANIFEST_FILE,
        _write_npz,
        load_artifact,
        sha256_bytes,
    )

    current = load_artifact(tiny_model_copy)
    assert current.manifest["format_version"] == 3
    with np.load(tiny_model_copy / FACTORS_FILE) as data:
        arrays = {name: data[name] for name in data.files}
    assert current.item_item is not None
    term = current.item_item.sparse
    assert term is not None
    for name in ("item_item_head", "item_item_target_gaps", "item_item_sorted_weights"):
        del arrays[name]
    arrays["item_item_indices"] = term.indices.astype(np.int32)
    arrays["item_item_weights"] = term.weights.astype(np.float32)
    _write_npz(tiny_model_copy / FACTORS_FILE, arrays)
    manifest = json.loads((tiny_model_copy / MANIFEST_FILE).read_text())
    manifest["format_version"] = 2
    manifest["files"][FACTORS_FILE]["sha256"] = sha256_bytes(
        (tiny_model_copy / FACTORS_FILE).read_bytes())
    manifest["arrays"] = {name: {"shape": list(a.shape), "dtype": str(a.dtype)}
                          for name, a in arrays.items()}
    (tiny_model_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    older = load_artifact(tiny_model_copy)
    assert older.item_item is not None
    rated, ratings = np.arange(5), np.full(5, 4.5)
    np.testing.assert_allclose(older.item_item.scores(UserRatings.of(rated, ratings)),
                               term.scores(rated, ratings), rtol=1e-6, atol=1e-7)
