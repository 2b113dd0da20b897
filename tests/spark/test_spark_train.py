"""The Spark trainer writes the model the API serves and the promote gate compares.

Local mode on the planted tastes (with the service's own ratings export), then a real
standalone cluster (a master and two workers on 127.0.0.1, spark-submit) on ml-latest-small.
Settings are small (few iterations, low ranks): these check the contract, not the quality
(bench/spark_quality.py measures that).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from bench.harness.spark_cluster import REPO, SparkStandalone, ml_package_zip, spark_env
from ml.data.split import hashed_users_holdout
from ml.models.ease.sparse import SparseEaseParams
from ml.serving.artifacts import APP_RATINGS_KEY, load_artifact, load_holdout
from ml.serving.model_store import ModelStore
from ml.training.cli import GATE_SALT
from tests.api.conftest import ACTION, ACTION_FAN, ROMANCE, ROMANCE_FAN
from tests.spark.conftest import APP_USERS

SMALL = ["--rank", "4", "--iterations", "4", "--implicit-rank", "8",
         "--implicit-iterations", "4", "--bias-sweeps", "1"]
GATE = 0.1


def run_local(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ml.training.spark_train", "--master", "local[2]",
               "--conf", "spark.ui.enabled=false", *SMALL, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=spark_env(), cwd=REPO,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def personal_list(model_dir: Path, database_url: str, ratings: dict[int, float]) -> dict:
    """Sign up through the real app serving ``model_dir``, rate, and ask for the list."""
    app = create_app(Settings(model_dir=model_dir, database_url=database_url, create_db=True,
                              cors_origins="http://localhost:8501"))
    with TestClient(app) as client:
        user = client.post("/users").json()
        headers = {"Authorization": f"Bearer {user['token']}"}
        body = {"user_id": user["user_id"],
                "ratings": [{"movie_id": m, "rating": r} for m, r in ratings.items()]}
        assert client.post("/rate", json=body, headers=headers).status_code == 200
        response = client.get("/recommend", params={"user_id": user["user_id"]},
                              headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def local_model(planted_release: Path, app_export: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark-local") / "model"
    # Without the popularity prior, as the planted model API tests use (tests/synthetic.py:
    # popularity is blind to taste there by construction).
    run_local("--data", str(planted_release), "--app-ratings", str(app_export),
              "--out", str(out), "--gate-users", str(GATE), "--popularity-weight", "0",
              "--popularity-at-threshold", "0")
    return out


def test_local_mode_serves_planted_tastes_through_the_api(local_model: Path, sqlite_url: str):
    action = personal_list(local_model, sqlite_url, ACTION_FAN)
    romance = personal_list(local_model, sqlite_url, ROMANCE_FAN)
    assert action["source"] == romance["source"] == "personalized"
    ids = [[r["movie_id"] for r in body["recommendations"]] for body in (action, romance)]
    assert sum(m in ACTION for m in ids[0]) > sum(m in ROMANCE for m in ids[0]), ids[0]
    assert sum(m in ROMANCE for m in ids[1]) > sum(m in ACTION for m in ids[1]), ids[1]
    assert len(set(ids[0]) & set(ids[1])) <= 4


def test_the_artifact_holds_film_arrays_only_and_records_spark_and_the_app_ratings(
        local_model: Path, app_export: Path):
    artifact = load_artifact(local_model)
    manifest = artifact.manifest
    assert manifest["engine"]["name"] == "spark"
    assert manifest["engine"]["master"] == "local[2]"
    assert len(artifact.users) == 0 and artifact.model.user_factors.shape == (0, 4)
    assert artifact.model.item_factors.shape == (60, 4)
    assert artifact.implicit.item_factors.shape == (60, 8)
    receipt = json.loads((app_export / "receipt.json").read_text())
    assert manifest[APP_RATINGS_KEY] == receipt
    # The chart counts MovieLens ratings only; the popularity counts the app's too.
    app_counts = np.zeros(60, dtype=np.int64)
    app_counts[artifact.items.indices(np.array([1, 2, 3, 4, 5, 6, 101, 102]))] = len(APP_USERS)
    assert artifact.chart is not None
    np.testing.assert_array_equal(artifact.popularity.counts - artifact.chart.counts, app_counts)
    assert manifest["data"]["n_ratings"] == int(artifact.popularity.counts.sum())
    # The ranking's item-item term, at the one-box trainer's defaults (every film is in the
    # head of this small catalogue).
    assert artifact.item_item is not None and artifact.item_item.sparse is not None
    assert artifact.item_item.n_items == 60
    assert len(np.unique(artifact.item_item.sparse.indices)) == 60
    assert manifest["ranking"]["item_item"] == asdict(SparseEaseParams())


def test_the_gate_holds_out_the_users_ml_train_holds_out(local_model: Path,
                                                         planted_release: Path):
    ratings = pd.read_csv(planted_release / "ratings.csv").rename(
        columns={"userId": "user_id", "movieId": "movie_id"})
    _, held = hashed_users_holdout(ratings, GATE, GATE_SALT)
    holdout = load_holdout(local_model)
    assert len(held) > 0
    np.testing.assert_array_equal(holdout.user_ids, held["user_id"].to_numpy())
    np.testing.assert_array_equal(holdout.movie_ids, held["movie_id"].to_numpy())
    assert not (holdout.user_ids < 0).any()  # the service's own users are never held out


def test_ml_promote_gates_a_spark_candidate_against_a_one_box_model(
        local_model: Path, planted_release: Path, tmp_path: Path):
    one_box = tmp_path / "one-box"
    trained = subprocess.run(
        [sys.executable, "-m", "ml.training.train", "--data", str(planted_release),
         "--out", str(one_box),
         "--test-fraction", "0", "--gate-users", str(GATE), "--n-factors", "4", "--rank", "4",
         "--n-epochs", "12", "--burn-in", "4"],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    assert trained.returncode == 0, trained.stderr[-3000:]
    store = tmp_path / "store"
    promote = [sys.executable, "-m", "ml.training.promote"]
    first = subprocess.run([*promote, str(one_box), "--store", str(store)], capture_output=True,
                           text=True, cwd=REPO, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    gated = subprocess.run([*promote, str(local_model), "--store", str(store),
                            "--tolerance", "1.0"],
                           capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    # Compared (same files, same held-out people) and, with a wide tolerance, promoted.
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert "ranking NDCG@10" in gated.stdout
    served = load_artifact(ModelStore(store).path_of(ModelStore(store).current()))
    assert served.manifest["engine"]["name"] == "spark"


def test_a_standalone_cluster_trains_ml_latest_small_and_the_api_serves_it(
        shared_data: Path, tmp_path: Path, sqlite_url: str):
    out = tmp_path / "model"
    with SparkStandalone(workers=2, cores=1) as cluster:
        done = cluster.submit(
            REPO / "ml" / "training" / "spark_train.py",
            ["--data", str(shared_data / "ml-latest-small"), "--out", str(out),
             "--rank", "8", "--iterations", "4", "--implicit-rank", "16",
             "--implicit-iterations", "4", "--bias-sweeps", "1"],
            py_files=ml_package_zip(tmp_path / "ml.zip"))
        assert done.returncode == 0, done.stderr[-4000:]
    manifest = load_artifact(out).manifest
    assert manifest["engine"]["master"] == cluster.url
    assert manifest["data"]["n_movies"] > 9000
    # Star Wars IV–VI and The Matrix: a science-fiction fan, personal from the fifth rating.
    body = personal_list(out, sqlite_url, {260: 5.0, 1196: 5.0, 1210: 4.5, 2571: 5.0, 1: 3.0})
    assert body["source"] == "personalized"
    assert len(body["recommendations"]) == 10
    assert not {260, 1196, 1210, 2571, 1} & {r["movie_id"] for r in body["recommendations"]}
