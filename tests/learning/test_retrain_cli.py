"""``python -m ml.training.train --app-ratings URL``: the service's ratings join the MovieLens ones,
namespaced, filtered and recorded in the manifest; on SQLite and PostgreSQL; errors in a line."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import repository
from db.migrate import upgrade
from db.session import create_db_engine, create_session_factory, write_transaction
from ml.data import APP_SOURCE, add_app_ratings, app_user_ids, load_dataset
from ml.serving.artifacts import app_ratings_of, load_artifact, load_holdout
from tests.synthetic import planted_movies, planted_ratings

REPO = Path(__file__).resolve().parents[2]
FAST = ["--n-factors", "3", "--rank", "4", "--n-epochs", "8", "--burn-in", "3",
        "--test-fraction", "0", "--validation-fraction", "0", "--gate-users", "0"]


def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


def movielens_folder(root: Path) -> Path:
    """The planted ratings as a MovieLens CSV release (user ids 1..60, as app users too)."""
    folder = root / "ml-latest-small"
    folder.mkdir(parents=True)
    ratings = planted_ratings(n_users=60, per_user=20)
    ratings.rename(columns={"user_id": "userId", "movie_id": "movieId"}).to_csv(
        folder / "ratings.csv", index=False)
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f'{m.movie_id},"{m.title} ({m.year})",{"|".join(m.genres)}\n'
        for m in planted_movies().itertuples()))
    return folder


_TOKENS = itertools.count()


def app_user(sessions: sessionmaker[Session], ratings: dict[int, float]) -> int:
    with sessions() as session, write_transaction(session):
        user_id = repository.create_user(session, f"hash-{next(_TOKENS)}")
        repository.upsert_ratings(session, user_id, ratings)
    return user_id


def test_retrain_learns_the_apps_ratings_on_each_database(database_url: str, tmp_path: Path):
    engine = create_db_engine(database_url)
    upgrade(engine)
    sessions = create_session_factory(engine)
    keen = app_user(sessions, {1: 5.0, 2: 4.5, 3: 5.0, 101: 1.0, 102: 1.5, 999_999: 4.0})
    brief = app_user(sessions, {1: 4.0, 2: 4.0})  # below the default of 5: left out
    unknown_only = app_user(sessions, dict.fromkeys(range(900_001, 900_007), 3.0))
    engine.dispose()
    out = tmp_path / "model"
    result = run("-m", "ml.training.train", "--data", str(movielens_folder(tmp_path)),
                 "--out", str(out),
                 "--app-ratings", database_url, *FAST)
    assert result.returncode == 0, result.stderr
    artifact = load_artifact(out)
    receipt = app_ratings_of(artifact.manifest)
    assert receipt is not None
    assert (receipt.n_ratings, receipt.n_users, receipt.min_ratings) == (5, 1, 5)
    assert receipt.n_users_left_out == 1  # `brief`; `unknown_only` rated no film we know
    assert len(receipt.sha256) == 64 and receipt.read_at.startswith("20")
    trained = set(artifact.users.ids.tolist())
    assert -keen in trained and -brief not in trained and -unknown_only not in trained
    assert keen in trained  # MovieLens user with the same number: a different person
    assert artifact.manifest["data"]["n_ratings"] == 60 * 20 + 5
    assert artifact.items.get(999_999) == -1  # only films of the catalogue


def test_min_ratings_is_a_flag_and_app_users_are_never_held_out(database_url: str,
                                                                   tmp_path: Path):
    engine = create_db_engine(database_url)
    upgrade(engine)
    sessions = create_session_factory(engine)
    users = [app_user(sessions, {1: 4.0, 2: 4.0}) for _ in range(6)]
    engine.dispose()
    out = tmp_path / "model"
    result = run("-m", "ml.training.train", "--data", str(movielens_folder(tmp_path)),
                 "--out", str(out),
                 "--app-ratings", database_url, "--app-min-ratings", "2", *FAST,
                 "--gate-users", "0.5")
    assert result.returncode == 0, result.stderr
    artifact = load_artifact(out)
    receipt = app_ratings_of(artifact.manifest)
    assert receipt is not None and (receipt.n_ratings, receipt.min_ratings) == (12, 2)
    held = load_holdout(out)
    assert 15 <= len(set(held.user_ids.tolist())) <= 45 and (held.user_ids > 0).all()
    assert {-u for u in users} <= set(artifact.users.ids.tolist())
    assert artifact.manifest["data"]["n_ratings"] == 60 * 20 - len(held.ratings) + 12


def test_a_model_without_app_ratings_records_none(tmp_path: Path):
    out = tmp_path / "model"
    result = run("-m", "ml.training.train", "--data", str(movielens_folder(tmp_path)),
                 "--out", str(out),
                 *FAST)
    assert result.returncode == 0, result.stderr
    assert app_ratings_of(json.loads((out / "manifest.json").read_text())) is None


@pytest.mark.parametrize(("url", "expected"), [
    ("not a url", "not a database URL"),
    ("sqlite:///{tmp}/missing.db", "no such SQLite database file"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot read the ratings"),
    ("sqlite:///{tmp}/empty.db", "no app ratings to learn from"),
    ("sqlite:///{tmp}/bare.db", "cannot read the ratings"),
])
def test_database_errors_are_one_line(tmp_path: Path, url: str, expected: str):
    engine = create_db_engine(f"sqlite:///{tmp_path}/empty.db")
    upgrade(engine)
    engine.dispose()
    (tmp_path / "bare.db").write_bytes(b"")  # a file, no schema
    out = tmp_path / "model"
    result = run("-m", "ml.training.train", "--data", str(movielens_folder(tmp_path)),
                 "--out", str(out),
                 "--app-ratings", url.format(tmp=tmp_path), *FAST)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not (tmp_path / "missing.db").exists()  # reading never creates a database


def test_app_users_can_never_collide_with_movielens_users(tmp_path: Path):
    dataset = load_dataset(movielens_folder(tmp_path))
    app = dataset.ratings.head(30).copy()  # the same numbers, as app users
    merged = add_app_ratings(dataset, app)
    app_rows = merged.ratings[merged.ratings["source"] == APP_SOURCE]
    assert (app_rows["user_id"] < 0).all() and (merged.ratings.loc[
        merged.ratings["source"] != APP_SOURCE, "user_id"] > 0).all()
    assert merged.ratings["user_id"].nunique() == dataset.ratings["user_id"].nunique() + \
        app["user_id"].nunique()
    np.testing.assert_array_equal(app_user_ids(np.array([1, 7])), [-1, -7])
