"""The Spark trainer's item-item term is the one-box trainer's, in process.

The head films and their Gram matrix are summed by Spark, the solve and the pruning are the
one-box code: on the same ratings the artifact's CSR arrays equal ``fit_sparse_ease``'s (a head
smaller than the catalogue and a small neighbour count, so both the head choice and the
pruning are exercised).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from bench.harness.spark_cluster import spark_env
from ml.models.ease.sparse import SparseEaseParams, fit_sparse_ease
from ml.models.ials.model import ImplicitParams
from ml.models.matrix import IdMap
from ml.serving.ranking import RankingWeights
from ml.training.pipeline import rating_matrix
from ml.training.spark_train import SparkSettings, fit_spark, spark_session
from tests.synthetic import planted_movies, planted_ratings


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    for key, value in spark_env().items():
        os.environ.setdefault(key, value)
    session = spark_session("local[2]", "cinematch-test-item-item",
                            {"spark.ui.enabled": "false", "spark.driver.memory": "1g"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_the_spark_item_item_term_is_the_one_box_one(spark: Any):
    ratings = planted_ratings(n_users=150, per_user=25, seed=3)
    params = SparseEaseParams(l2_per_user=0.5, max_items=45, neighbours=8)
    settings = SparkSettings(rank=2, iterations=2, rounds=1, bias_sweeps=1, implicit_rank=2,
                             implicit_iterations=2)
    fit = fit_spark(spark, spark.createDataFrame(ratings[["user_id", "movie_id", "rating"]]),
                    planted_movies(), settings, ImplicitParams(), RankingWeights(),
                    item_item_params=params)
    try:
        term = fit.artifact.item_item
        assert term is not None and term.sparse is not None
        items = IdMap.from_values(ratings["movie_id"].to_numpy())
        np.testing.assert_array_equal(fit.artifact.items.ids, items.ids)
        matrix = rating_matrix(ratings, IdMap.from_values(ratings["user_id"].to_numpy()), items)
        assert len(items) == 60 and len(np.unique(term.sparse.indices)) == 45  # the head only
        expected = fit_sparse_ease(matrix, params)
        np.testing.assert_array_equal(term.sparse.indptr, expected.indptr)
        np.testing.assert_array_equal(term.sparse.indices, expected.indices)
        np.testing.assert_allclose(term.sparse.weights.astype(np.float32),  # float16: 2^-10
                                   expected.weights.astype(np.float32), rtol=2.0**-10, atol=1e-7)
        # A real term, not zeros on both sides.
        assert np.abs(expected.weights.astype(np.float32)).max() > 1e-3
        assert fit.artifact.manifest["ranking"]["item_item"] == asdict(params)
    finally:
        fit.release()


@pytest.mark.parametrize("chunk", [1, 7, 1_000_000])
def test_a_partitions_partial_gram_is_the_one_box_kernels(chunk: int):
    """Users in shuffled order, head and non-head films, half stars: the numpy partial sum,
    packed, cut into pieces that straddle rows and put back, equals the numba kernel's XᵀX
    whatever the chunking."""
    from ml.training.kernels import head_gram
    from ml.training.spark_train import add_piece, mirror_upper, partial_gram, upper_offsets

    rng = np.random.default_rng(5)
    n_users, n_items, n_head = 40, 30, 12
    pairs = np.unique(np.column_stack([rng.integers(0, n_users, 500),
                                       rng.integers(0, n_items, 500)]), axis=0)
    users, items = pairs[:, 0], pairs[:, 1]
    values = rng.integers(1, 11, len(users)) / 2.0
    head = rng.permutation(n_items)[:n_head]
    head_of = np.full(n_items, -1, dtype=np.int32)
    head_of[head] = np.arange(n_head, dtype=np.int32)
    indptr = np.searchsorted(users, np.arange(n_users + 1)).astype(np.int64)
    expected = head_gram(indptr, items.astype(np.int32), values.astype(np.float32), head_of,
                         n_head, 1)
    kept = head_of[items] >= 0
    shuffled = rng.permutation(int(kept.sum()))
    packed = partial_gram(users[kept][shuffled], head_of[items][kept][shuffled],
                          values[kept][shuffled], n_head, chunk=chunk)
    assert packed.shape == (n_head * (n_head + 1) // 2,)
    offsets = upper_offsets(n_head)
    assert packed[offsets[3] + 5 - 3] == expected[3, 5]
    gram = np.zeros((n_head, n_head))
    for start in range(0, len(packed), 7):
        add_piece(gram, offsets, start, packed[start:start + 7])
    np.testing.assert_array_equal(gram, np.triu(expected))
    mirror_upper(gram, rows=5)
    np.testing.assert_array_equal(gram, expected)
    assert np.count_nonzero(expected) > 2 * n_head
