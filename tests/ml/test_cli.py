"""The training and evaluation CLIs: they work on small files and fail in one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.synthetic import planted_ratings

REPO = Path(__file__).resolve().parents[2]
FAST = ["--n-factors", "3", "--rank", "4", "--n-epochs", "12", "--burn-in", "4", "--quiet"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def write_split(tmp_path: Path) -> tuple[Path, Path]:
    ratings = planted_ratings(n_users=80, per_user=25).rename(
        columns={"user_id": "userId", "movie_id": "movieId"})
    test = ratings.sample(frac=0.1, random_state=0)
    train = ratings.drop(test.index)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    return tmp_path / "train.csv", tmp_path / "test.csv"


def test_evaluate_on_train_and_test_files_writes_the_documented_json(tmp_path: Path):
    train, test = write_split(tmp_path)
    out = tmp_path / "report.json"
    result = run("-m", "ml.training.evaluate", "--train", str(train), "--test", str(test),
                 "--json", str(out), *FAST)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report) >= {"split", "training_seconds", "rating", "top_n"}
    models = {row["model"]: row for row in report["rating"]}
    assert set(models) == {"global_mean", "bias_baseline", "funksvd"}
    assert models["funksvd"]["rmse"] < models["global_mean"]["rmse"]
    rankers = {row["model"] for row in report["top_n"]}
    assert rankers == {
        "popularity", "popularity_count", "funksvd_predicted_rating", "service_ranking"
    }
    assert "RMSE" in result.stdout


@pytest.mark.parametrize("content, expected", [
    ("userId,movieId,stars\n1,2,3\n", "train.csv:1: missing column 'rating'"),
    ("userId,movieId,rating\n1,2,3\n1,x,4\n", "train.csv:3: movieId 'x' is not an integer"),
])
def test_a_malformed_ratings_file_is_named_with_its_line(tmp_path: Path, content, expected):
    (tmp_path / "train.csv").write_text(content)
    (tmp_path / "test.csv").write_text("userId,movieId,rating\n1,2,3\n")
    result = run("-m", "ml.training.evaluate", "--train", str(tmp_path / "train.csv"),
                 "--test", str(tmp_path / "test.csv"), *FAST)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, expected", [
    (["-m", "ml.training.evaluate", "--train", "nope.csv", "--test", "nope.csv"],
     "nope.csv: no such"),
    (["-m", "ml.training.train", "--data", "no/such/folder", "--out", "x"],
     "no/such/folder: no such"),
    (["-m", "ml.training.evaluate", "--ml100k-folds", "no/such"], "u1.base: missing"),
])
def test_missing_inputs_fail_in_one_line_with_exit_2(args, expected):
    result = run(*args, *FAST) if "ml.training.evaluate" in args else run(*args)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_train_cli_writes_a_loadable_model_from_a_movielens_folder(tmp_path: Path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    ratings = planted_ratings(n_users=60, per_user=20)
    ratings.rename(columns={"user_id": "userId", "movie_id": "movieId"}).to_csv(
        folder / "ratings.csv", index=False)
    from tests.synthetic import planted_movies
    movies = planted_movies()
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f'{m.movie_id},"{m.title} ({m.year})",{"|".join(m.genres)}\n'
        for m in movies.itertuples()))
    out = tmp_path / "models"
    result = run("-m", "ml.training.train", "--data", str(folder), "--out", str(out),
                 "--test-fraction", "0.1", "--rating-weight", "0.3", "--popularity-weight", "0",
                 "--rating-confidence", "0.75",
                 *FAST[:-1])
    assert result.returncode == 0, result.stderr
    from ml.serving.ranking import RankingWeights
    from ml.serving.recommender import Recommender
    recommender = Recommender.load(out)
    assert recommender.n_movies == 60
    assert recommender.metrics()["rating"][0]["model"] == "global_mean"
    sources = recommender.manifest["data"]["sources"]
    assert {s["path"].split("/")[-1] for s in sources} >= {"ratings.csv", "movies.csv"}
    # The settings given are the ones trained and served; the newcomer weights stay defaults.
    assert recommender.weights == RankingWeights(rating=0.3, popularity=0.0)
    assert recommender.ials.rating_confidence == 0.75
    assert recommender.manifest["ranking"]["implicit"]["rating_confidence"] == 0.75
    # Where the time went, stage by stage (wall and CPU seconds).
    stages = recommender.manifest["training"]["stages"]
    assert {"load", "held_out_metrics", "fit", "funksvd", "ials", "item_item",
            "neighbour_edges"} <= stages.keys()
    assert all(s["wall"] >= 0 and s["cpu"] >= 0 for s in stages.values())


@pytest.mark.parametrize("command", [
    ["-m", "ml.data", "info", "{folder}"],
    ["-m", "ml.training.train", "--data", "{folder}", "--out", "{out}"],
    ["-m", "ml.training.evaluate", "--data", "{folder}", "--quiet"],
    ["-m", "ml.training.evaluate", "--train", "{folder}/ratings.csv",
     "--test", "{folder}/ratings.csv"],
])
def test_every_cli_reports_a_bad_ratings_line_the_same_way(tmp_path: Path, command):
    folder = tmp_path / "ml-32m"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,x,4.0,2\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Alien (1979),Horror\n")
    args = [a.format(folder=folder, out=tmp_path / "models") for a in command]
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr == "error: ml-32m/ratings.csv:3: movieId 'x' is not an integer\n"


def test_held_out_metrics_of_a_large_dataset_come_from_a_sample_of_whole_users():
    """Above --test-max-ratings the metrics' model learns from a seeded sample of users,
    each with all their ratings, holding at most that many; smaller data is used whole."""
    import numpy as np
    import pandas as pd

    from ml.training.train import sample_users

    rng = np.random.default_rng(0)
    ratings = pd.DataFrame({"user_id": rng.integers(0, 300, 6000),
                            "movie_id": rng.integers(0, 50, 6000),
                            "rating": rng.integers(1, 6, 6000).astype(float)})
    whole, none = sample_users(ratings, 6000, 1)
    assert whole is ratings and none == {}
    sample, described = sample_users(ratings, 2000, 1)
    assert 1800 <= len(sample) <= 2000 and described["ratings_sampled"] == len(sample)
    users = set(sample["user_id"])
    assert described["users_sampled"] == len(users)
    assert len(ratings[ratings["user_id"].isin(users)]) == len(sample)  # whole histories
    again, _ = sample_users(ratings, 2000, 1)
    assert again.equals(sample)
