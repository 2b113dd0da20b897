"""Alternating the biases and the residual ALS (``SparkSettings.rounds``), in process.

A planted set with strong user and film biases and three taste directions, fitted at rank
1: refitting the biases on r − p·q (the taste the factors took out of them) and the ALS on
the new residuals moves the biases and fits the ratings no worse than damped means fixed
before the ALS; the executors' p_u·q_i is the factors' own product.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.harness.spark_cluster import spark_env
from ml.training.spark_train import (
    SparkSettings,
    _with_dot,
    fit_rating_model,
    prepare,
    spark_rmse,
    spark_session,
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    for key, value in spark_env().items():
        os.environ.setdefault(key, value)
    session = spark_session("local[2]", "cinematch-test-rounds",
                            {"spark.ui.enabled": "false", "spark.driver.memory": "1g"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def biased_ratings(n_users: int = 300, n_films: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    b_u, b_i = rng.normal(0, 0.6, n_users), rng.normal(0, 0.6, n_films)
    p, q = rng.normal(0, 0.6, (n_users, 3)), rng.normal(0, 0.6, (n_films, 3))
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_films, 25, replace=False):
            r = 3.3 + b_u[u] + b_i[i] + p[u] @ q[i] + rng.normal(0, 0.3)
            rows.append((u + 1, int(i) + 1, float(np.clip(r, 0.5, 5.0))))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])


def test_alternating_rounds_fit_the_ratings_better(spark: Any):
    ratings = biased_ratings()
    frame = spark.createDataFrame(ratings.astype({"rating": "float32"}))
    base = SparkSettings(rank=1, reg=0.05, iterations=6, bias_damping=25.0, bias_sweeps=1)
    prepared = prepare(spark, frame, base)
    rmse, item_bias = {}, {}
    for rounds in (1, 2):
        fit = fit_rating_model(prepared, SparkSettings(**{**base.__dict__, "rounds": rounds}))
        rmse[rounds] = spark_rmse(prepared, fit, frame)
        item_bias[rounds] = fit.model.item_bias
        if rounds == 2:
            # The executors' product is the factors' own (checked on the driver, test only).
            users = {r[0]: np.array(r[1]) for r in fit.als[0].userFactors.collect()}
            items = {r[0]: np.array(r[1]) for r in fit.als[0].itemFactors.collect()}
            dots = _with_dot(prepared.train, fit.als).select(
                "user_index", "item_index", "dot").collect()
            expected = [users[r[0]] @ items[r[1]] for r in dots]
            np.testing.assert_allclose([r[2] for r in dots], expected, rtol=1e-4, atol=1e-5)
        fit.release()
    prepared.release()
    moved = np.abs(item_bias[2] - item_bias[1])
    assert moved.mean() > 0.01, moved.mean()
    assert rmse[2] <= rmse[1] + 0.002, rmse
